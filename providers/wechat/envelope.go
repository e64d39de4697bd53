package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// signature is WeChat's callback signature: the hex SHA-1 of its parts sorted as strings and
// joined. The URL's signature covers the token, timestamp and nonce; in safe mode its
// msg_signature covers the encrypted body too.
func signature(parts ...string) string {
	sorted := slices.Clone(parts)
	slices.Sort(sorted)
	sum := sha1.Sum([]byte(strings.Join(sorted, "")))
	return hex.EncodeToString(sum[:])
}

// sameSignature compares a received signature with the expected one in constant time.
func sameSignature(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(strings.TrimSpace(got))), []byte(want)) == 1
}

// blockPad is the block size WeChat pads the envelope's plaintext to with PKCS#7: 32 bytes,
// the key's size, not AES's 16.
const blockPad = 32

// openEnvelope decrypts a safe-mode body's Encrypt: base64 of AES-256-CBC (IV the key's first
// 16 bytes) over 16 random bytes, the message's length (4 bytes, big-endian), the message and
// the AppID of the account it is for. A message for another account is refused. The caller
// has checked msg_signature, so a wrong padding cannot serve as an oracle.
func openEnvelope(key []byte, appID, encrypt string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encrypt))
	if err != nil {
		return nil, errors.New("Encrypt is not base64")
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("Encrypt is %d bytes, not whole AES blocks", len(ct))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, key[:aes.BlockSize]).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > blockPad || pad > len(pt) {
		return nil, errors.New("the decrypted body has no valid padding: is encoding_aes_key the account's?")
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, errors.New("the decrypted body has no valid padding: is encoding_aes_key the account's?")
		}
	}
	pt = pt[:len(pt)-pad]
	if len(pt) < 20 {
		return nil, errors.New("the decrypted body is too short")
	}
	n := binary.BigEndian.Uint32(pt[16:20])
	if uint64(n) > uint64(len(pt)-20) {
		return nil, errors.New("the decrypted body's length field runs past its end")
	}
	msg, to := pt[20:20+n], pt[20+n:]
	if subtle.ConstantTimeCompare(to, []byte(appID)) != 1 {
		return nil, errors.New("the message is for another account: its AppID is not this provider's")
	}
	return msg, nil
}
