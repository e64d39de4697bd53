package email

import (
	"bytes"
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert is a certificate for 127.0.0.1 and localhost, made once per test binary.
var testCert = sync.OnceValues(func() (tls.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "musubi test relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, _ := x509.MarshalECPrivateKey(key)
	c, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		panic(err)
	}
	return c, certPEM
})

// relay is a real SMTP server (github.com/emersion/go-smtp) on a random local port that
// offers STARTTLS with the test certificate, takes AUTH PLAIN only over TLS, and records
// every message it accepts.
type relay struct {
	addr     string
	port     int
	caFile   string
	user     string
	password string

	mu       sync.Mutex
	received []envelope
	conns    int
	// reject makes the next RCPT TO fail with this error; rejectAll every one, while set.
	reject, rejectAll *smtp.SMTPError
}

// envelope is one accepted message.
type envelope struct {
	from string
	to   []string
	data []byte
	tls  bool
	auth bool
}

type relayOptions struct {
	implicitTLS bool // TLS from the first byte, as on port 465
	noTLS       bool // offer no STARTTLS, and take AUTH in clear
}

func startRelay(t testing.TB, opts relayOptions) *relay {
	t.Helper()
	cert, certPEM := testCert()
	r := &relay{user: "musubi", password: "s3cret-relay-password"}
	r.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(r.caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &relaySession{r: r, conn: c}, nil
	}))
	s.Domain = "relay.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 1 << 20
	s.MaxRecipients = 50
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if !opts.noTLS {
		s.TLSConfig = tlsConf
	} else {
		s.AllowInsecureAuth = true // a relay without TLS still takes AUTH from this machine
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l = countingListener{l, r}
	if opts.implicitTLS {
		l = tls.NewListener(l, tlsConf)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	r.addr = l.Addr().String()
	r.port = l.Addr().(*net.TCPAddr).Port
	return r
}

func (r *relay) messages() []envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]envelope(nil), r.received...)
}

// connections counts the TCP connections the relay accepted.
func (r *relay) connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

type countingListener struct {
	net.Listener
	r *relay
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.r.mu.Lock()
		l.r.conns++
		l.r.mu.Unlock()
	}
	return c, err
}

func (r *relay) rejectNext(e *smtp.SMTPError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reject = e
}

// rejectEvery makes every RCPT TO fail with e until it is called with nil.
func (r *relay) rejectEvery(e *smtp.SMTPError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejectAll = e
}

type relaySession struct {
	r    *relay
	conn *smtp.Conn
	auth bool
	env  envelope
}

func (s *relaySession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *relaySession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.r.user || pass != s.r.password {
			return smtp.ErrAuthFailed
		}
		s.auth = true
		return nil
	}), nil
}

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.auth {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.env = envelope{from: from, tls: isTLS, auth: s.auth}
	return nil
}

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	rej := cmp.Or(s.r.reject, s.r.rejectAll)
	s.r.reject = nil
	s.r.mu.Unlock()
	if rej != nil {
		return rej
	}
	s.env.to = append(s.env.to, to)
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	if len(s.env.to) == 0 {
		return errors.New("no recipients")
	}
	s.env.data = b.Bytes()
	s.r.mu.Lock()
	s.r.received = append(s.r.received, s.env)
	s.r.mu.Unlock()
	return nil
}

func (s *relaySession) Reset()        { s.env = envelope{} }
func (s *relaySession) Logout() error { return nil }
