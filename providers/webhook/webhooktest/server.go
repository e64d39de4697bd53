// Package webhooktest is a local receiver of the webhook provider's deliveries, as a store's
// staff tablet, an app's push service or a CRM runs one: it checks every request with
// webhook.Receiver (the signature, its time, replays) and keeps each message once by its
// payload id, answering 409 to a message it has. Calls fail, lose their answers or wait
// through the controls of package contracttest, which the server embeds.
package webhooktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/signature"
	"github.com/musubi-hq/musubi/providers/webhook"
)

// Op is the one operation faults target: a delivery.
const Op = "deliver"

// Server is a running receiver.
type Server struct {
	*httptest.Server
	*contracttest.Control
	// Secret is the key the webhook provider signs with.
	Secret string

	recv     *webhook.Receiver
	mu       sync.Mutex
	messages []webhook.Payload
	refused  []string
	requests []request
}

// request is a delivery as it arrived, to be posted again.
type request struct {
	header http.Header
	body   []byte
}

// New starts a receiver with a fresh secret. Close it when done.
func New() *Server {
	s := &Server{Secret: "whsec-" + contracttest.RandomHex(16),
		Control: contracttest.New(contracttest.Vendor{Ops: []string{Op}, RetryAfter: time.Second, Fail: writeFault})}
	s.recv = webhook.NewReceiver(s.Secret)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Messages returns the messages taken, once each, in order.
func (s *Server) Messages() []webhook.Payload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Refused returns why each refused request was refused: "STATUS REASON".
func (s *Server) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refused)
}

// Replay posts the nth request received (from 1; 0 is the last) again as it was, headers and
// body, as someone who recorded it would, and returns the status and the answer.
func (s *Server) Replay(n int) (int, string, error) {
	s.mu.Lock()
	if n == 0 {
		n = len(s.requests)
	}
	if n < 1 || n > len(s.requests) {
		s.mu.Unlock()
		return 0, "", fmt.Errorf("no request %d: %d received", n, len(s.requests))
	}
	r := s.requests[n-1]
	s.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(r.body))
	if err != nil {
		return 0, "", err
	}
	req.Header = r.header.Clone()
	resp, err := s.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "deliveries are POSTed")
		return
	}
	contracttest.Serve(s.Control, w, r, Op, s.deliver)
}

func (s *Server) deliver(w http.ResponseWriter, r *http.Request) {
	body, err := contracttest.ReadBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, request{header: r.Header.Clone(), body: body})
	s.mu.Unlock()
	pl, err := s.recv.Verify(r.Header, body)
	status := http.StatusOK
	switch {
	case errors.Is(err, webhook.ErrReplayed):
		status = http.StatusConflict
	case errors.Is(err, signature.ErrMissing), errors.Is(err, signature.ErrMismatch), errors.Is(err, signature.ErrStale):
		status = http.StatusUnauthorized
	case err != nil:
		status = http.StatusBadRequest
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.refused = append(s.refused, fmt.Sprintf("%d %v", status, err))
		writeError(w, status, err.Error())
		return
	}
	for i, m := range s.messages {
		if m.ID == pl.ID {
			// Musubi's retry of a message taken: signed afresh, known by its id.
			writeJSON(w, http.StatusConflict, map[string]string{"id": "msg-" + strconv.Itoa(i+1)})
			return
		}
	}
	s.messages = append(s.messages, pl)
	writeJSON(w, http.StatusOK, map[string]string{"id": "msg-" + strconv.Itoa(len(s.messages))})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeFault answers an injected failure.
func writeFault(w http.ResponseWriter, status int, retryAfter time.Duration) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Round(time.Second)/time.Second)))
	}
	writeError(w, status, http.StatusText(status))
}
