package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/musubi-hq/musubi/providers"
)

// smtpTimeout bounds every SMTP exchange: connecting, each command and the message data.
const smtpTimeout = 30 * time.Second

// maxIdleSMTP is how many open connections wait for the next message. A TLS handshake and
// AUTH cost more than the message itself, so a broadcast reuses connections.
const maxIdleSMTP = 4

// smtpTransport submits messages to an SMTP server (RFC 6409 submission) through go-mail,
// which does STARTTLS or implicit TLS, SMTP AUTH and MIME encoding.
type smtpTransport struct {
	cfg    *config
	client *mail.Client
	// dialMu serialises dialing: go-mail's opportunistic AUTH settles its mechanism on the
	// first connection.
	dialMu sync.Mutex
	idle   chan *gosmtp.Client
}

func newSMTP(cfg *config, workDir string) (*smtpTransport, providers.Diagnostics) {
	tlsConf := &tls.Config{ServerName: cfg.host, MinVersion: tls.VersionTLS12}
	if cfg.caFile != "" {
		path := resolve(workDir, cfg.caFile)
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, providers.Diagnostics{providers.AttributeError("ca_file", "Cannot read the CA file", "%v", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, providers.Diagnostics{providers.AttributeError("ca_file", "Cannot read the CA file", "%s holds no PEM certificate", path)}
		}
		tlsConf.RootCAs = pool
	}
	opts := []mail.Option{mail.WithPort(cfg.port), mail.WithTimeout(smtpTimeout), mail.WithTLSConfig(tlsConf)}
	switch cfg.tls {
	case tlsImplicit:
		opts = append(opts, mail.WithSSL())
	case tlsStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case tlsOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case tlsNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if cfg.username != "" {
		// PLAIN and LOGIN only over TLS (or to a relay on this machine): go-mail refuses to
		// send the password in clear text.
		opts = append(opts, mail.WithOpportunisticSMTPAuth(mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(cfg.username), mail.WithPassword(cfg.password))
	}
	client, err := mail.NewClient(cfg.host, opts...)
	if err != nil {
		return nil, providers.Errorf("Invalid SMTP configuration", "%v", err)
	}
	return &smtpTransport{cfg: cfg, client: client, idle: make(chan *gosmtp.Client, maxIdleSMTP)}, nil
}

// deliver sends one message and returns its Message-ID.
func (t *smtpTransport) deliver(ctx context.Context, o *outgoing) (string, error) {
	msg, err := t.message(o)
	if err != nil {
		return "", &providers.APIError{Code: providers.ErrInvalid, Message: err.Error()}
	}
	for attempt := 0; ; attempt++ {
		conn, reused, err := t.conn(ctx)
		if err != nil {
			return "", classifySMTP("connecting to "+t.cfg.host, err)
		}
		err = t.client.SendWithSMTPClient(conn, msg)
		if err == nil {
			t.release(conn)
			return o.messageID, nil
		}
		t.client.CloseWithSMTPClient(conn)
		// An idle connection the server has since closed fails its NOOP before MAIL FROM:
		// nothing was sent, so dial afresh.
		var se *mail.SendError
		if reused && attempt == 0 && errors.As(err, &se) && se.Reason == mail.ErrConnCheck {
			continue
		}
		return "", classifySMTP("sending to "+t.cfg.host, err)
	}
}

// message builds the MIME message: UTF-8 text, RFC 2047 encoded subject and display name.
func (t *smtpTransport) message(o *outgoing) (*mail.Msg, error) {
	m := mail.NewMsg(mail.WithCharset(mail.CharsetUTF8), mail.WithEncoding(bodyEncoding(o.text)), mail.WithNoDefaultUserAgent())
	if err := m.FromFormat(t.cfg.from.Name, t.cfg.from.Address); err != nil {
		return nil, err
	}
	if err := m.AddTo(o.to); err != nil {
		return nil, err
	}
	if t.cfg.replyTo != "" {
		if err := m.ReplyTo(t.cfg.replyTo); err != nil {
			return nil, err
		}
	}
	m.Subject(o.subject)
	m.SetMessageIDWithValue(o.messageID)
	m.SetDate()
	if len(o.unsubscribe) > 0 {
		if o.oneClick {
			if err := m.SetListUnsubscribeOneClick(o.unsubscribe[0], o.unsubscribe[1:]...); err != nil {
				return nil, err
			}
		} else {
			m.SetListUnsubscribe(o.unsubscribe...)
		}
	}
	m.SetBodyString(mail.TypeTextPlain, o.text)
	return m, nil
}

// bodyEncoding picks the smaller transfer encoding: quoted-printable keeps mostly-ASCII text
// readable, but triples every byte of Japanese text, where base64 adds a third.
func bodyEncoding(text string) mail.Encoding {
	nonASCII := 0
	for i := 0; i < len(text); i++ {
		if text[i] >= 0x80 {
			nonASCII++
		}
	}
	if nonASCII*3 > len(text) {
		return mail.EncodingB64
	}
	return mail.EncodingQP
}

// conn returns an idle connection, or dials a new one.
func (t *smtpTransport) conn(ctx context.Context) (c *gosmtp.Client, reused bool, err error) {
	select {
	case c := <-t.idle:
		return c, true, nil
	default:
	}
	t.dialMu.Lock()
	defer t.dialMu.Unlock()
	c, err = t.client.DialToSMTPClientWithContext(ctx)
	return c, false, err
}

// release keeps a healthy connection for the next message.
func (t *smtpTransport) release(c *gosmtp.Client) {
	select {
	case t.idle <- c:
	default:
		t.client.CloseWithSMTPClient(c)
	}
}

func (t *smtpTransport) close() error {
	for {
		select {
		case c := <-t.idle:
			t.client.CloseWithSMTPClient(c)
		default:
			return nil
		}
	}
}

// classifySMTP maps an SMTP failure to an error class by its reply code (RFC 5321) and
// enhanced status code (RFC 3463).
func classifySMTP(doing string, err error) error {
	// go-mail appends the recipients; an error is logged and stored, an address is personal.
	text, _, _ := strings.Cut(err.Error(), ", affected recipient")
	ae := &providers.APIError{Code: providers.ErrUnavailable, Message: doing + ": " + text}
	code, enhanced, temp := smtpCode(err)
	text = strings.ToLower(text)
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var netErr net.Error
	switch {
	case errors.As(err, &certErr), errors.As(err, &hostErr), strings.Contains(text, "does not support starttls"):
		// The server cannot be trusted with the password or the mail: retrying will not help.
		ae.Code = providers.ErrAuth
	case strings.Contains(text, "credits exceeded") || strings.Contains(text, "exceeded your messaging limit"):
		// The relay's plan (SendGrid's SMTP relay says so with a 451) is used up.
		ae.Code = providers.ErrQuota
	case code == 0:
		if !errors.As(err, &netErr) && (strings.Contains(text, "smtp auth") || strings.Contains(text, "unencrypted")) {
			ae.Code = providers.ErrAuth
		}
	case code == 530 || code == 534 || code == 535 || code == 538 || strings.HasPrefix(enhanced, "5.7."):
		ae.Code = providers.ErrAuth
	case temp || code/100 == 4:
		if code == 450 || code == 451 || code == 421 || code == 452 {
			if strings.Contains(text, "rate") || strings.Contains(text, "too many") {
				ae.Code = providers.ErrRateLimited
			}
		}
	case code/100 == 5:
		ae.Code = providers.ErrInvalid
	}
	ae.Status = code
	return ae
}

// smtpCode digs the reply code out of a go-mail error.
func smtpCode(err error) (code int, enhanced string, temp bool) {
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode(), se.EnhancedStatusCode(), se.IsTemp()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code, enhancedCode(te.Msg), te.Code/100 == 4
	}
	return 0, "", false
}

// enhancedCode returns the RFC 3463 code at the start of a reply text ("5.7.8 ..."), or "".
func enhancedCode(msg string) string {
	f, _, _ := strings.Cut(msg, " ")
	if len(f) >= 5 && (f[0] == '2' || f[0] == '4' || f[0] == '5') && f[1] == '.' {
		return f
	}
	return ""
}

// resolve makes a path of the configuration relative to its directory.
func resolve(workDir, path string) string {
	if workDir == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(workDir, path)
}
