package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// DefaultPath is where the sandbox keeps its systems when the provider block sets no path,
// relative to the configuration directory.
const DefaultPath = ".musubi/sandbox.jsonl"

// Object is one object held by a simulated system.
type Object struct {
	ID         string          `json:"id"`
	Provider   string          `json:"provider"`
	Kind       providers.Kind  `json:"kind"`
	Attributes providers.Attrs `json:"attributes"`
	// Refs holds the IDs of the objects that ref-typed attributes name.
	Refs map[string]string `json:"refs,omitempty"`
	// IdempotencyKey is the key of the create that made the object.
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Delivery is one message a simulated messaging system delivered.
type Delivery struct {
	ID        string    `json:"id"`
	Provider  string    `json:"provider"`
	Recipient string    `json:"recipient"`
	Text      string    `json:"text"`
	Key       string    `json:"key,omitempty"`
	At        time.Time `json:"at"`
}

// Fault makes one upcoming call fail.
type Fault struct {
	ID int `json:"id"`
	// Provider limits the fault to one provider ("sandbox.ec"); empty matches all.
	Provider string `json:"provider,omitempty"`
	// Op is create, read, update or delete.
	Op string `json:"op"`
	// Nth is which matching call, counting from when the fault was added, fails.
	Nth int `json:"nth"`
	// Status is the HTTP status the call fails with.
	Status int `json:"status,omitempty"`
	// LoseResponse does the call's work, then reports a timeout.
	LoseResponse bool `json:"lose_response,omitempty"`
	// Hang does the call's work, then blocks until the process is stopped, to simulate a
	// crash in the middle of an apply.
	Hang bool `json:"hang,omitempty"`
	seen int
}

// Ops a fault can target.
var faultOps = []string{"create", "read", "update", "delete"}

// statusCodes maps the statuses a fault may carry to the error class a real API's status
// would be classified as.
var statusCodes = map[int]providers.ErrorCode{
	400: providers.ErrInvalid, 422: providers.ErrInvalid,
	401: providers.ErrAuth, 403: providers.ErrAuth,
	404: providers.ErrNotFound, 409: providers.ErrConflict,
	429: providers.ErrRateLimited, 402: providers.ErrQuota,
	500: providers.ErrUnavailable, 502: providers.ErrUnavailable,
	503: providers.ErrUnavailable, 504: providers.ErrUnavailable,
}

// record is one line of the sandbox file. The file is an append-only log: every change is
// one line, so several processes (an apply and a `musubi sandbox set` beside it) share it
// safely under a file lock, and a process killed mid-apply loses nothing it reported done.
type record struct {
	Op       string    `json:"op"` // put, delete, fault, call, deliver
	Object   *Object   `json:"object,omitempty"`
	ID       string    `json:"id,omitempty"`
	Fault    *Fault    `json:"fault,omitempty"`
	FaultID  int       `json:"fault_id,omitempty"`
	Delivery *Delivery `json:"delivery,omitempty"`
}

// Store is an open sandbox file: every simulated system's objects, the pending faults and
// the messaging outbox. Methods are safe for concurrent use, within and across processes.
type Store struct {
	path string
	f    *os.File

	mu      sync.Mutex
	off     int64 // bytes of the file applied to the fields below
	objects map[string]*Object
	byKey   map[string]string // provider + "\x00" + idempotency key -> ID
	faults  []*Fault
	nextFID int
	outbox  []*Delivery
	sent    map[string]string // provider + "\x00" + delivery key -> delivery ID
	refs    int               // open handles sharing this store in the process
}

var open = struct {
	sync.Mutex
	m map[string]*Store
}{m: map[string]*Store{}}

// OpenStore opens the sandbox file at path, creating it and its directory when missing.
// Handles to one path within a process share one Store; Close releases a handle.
func OpenStore(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	open.Lock()
	defer open.Unlock()
	if s, ok := open.m[abs]; ok {
		s.refs++
		return s, nil
	}
	s, err := openFile(abs)
	if err != nil {
		return nil, err
	}
	open.m[abs] = s
	return s, nil
}

// openFile opens a store of its own on the file, as another process would.
func openFile(abs string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s := &Store{path: abs, f: f, objects: map[string]*Object{}, byKey: map[string]string{},
		sent: map[string]string{}, nextFID: 1, refs: 1}
	if err := s.view(func() error { return nil }); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close releases the handle; the file closes with the last one.
func (s *Store) Close() error {
	open.Lock()
	defer open.Unlock()
	s.refs--
	if s.refs > 0 {
		return nil
	}
	if open.m[s.path] == s {
		delete(open.m, s.path)
	}
	return s.f.Close()
}

// view runs fn with the store caught up with the file, under a shared file lock.
func (s *Store) view(fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Nothing appended since the last look: the state in memory is current, and a write
	// another process has under way is not visible yet either way.
	if fi, err := s.f.Stat(); err == nil && fi.Size() == s.off {
		return fn()
	}
	if err := flock(s.f, syscall.LOCK_SH); err != nil {
		return err
	}
	defer flock(s.f, syscall.LOCK_UN)
	if err := s.catchUp(false); err != nil {
		return err
	}
	return fn()
}

// update runs fn with the store caught up, under an exclusive file lock, then appends and
// applies the records fn returns.
func (s *Store) update(fn func() ([]record, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := flock(s.f, syscall.LOCK_EX); err != nil {
		return err
	}
	defer flock(s.f, syscall.LOCK_UN)
	if err := s.catchUp(true); err != nil {
		return err
	}
	recs, err := fn()
	if len(recs) == 0 {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range recs {
		if e := enc.Encode(&recs[i]); e != nil {
			return e
		}
	}
	if _, e := s.f.Write(buf.Bytes()); e != nil {
		return fmt.Errorf("writing the sandbox %s: %w", s.path, e)
	}
	s.off += int64(buf.Len())
	for i := range recs {
		s.apply(&recs[i])
	}
	return err
}

// catchUp applies what other processes appended since this one last looked. A line cut off
// by a process killed while writing is dropped when holding the exclusive lock.
func (s *Store) catchUp(exclusive bool) error {
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == s.off {
		return nil
	}
	if fi.Size() < s.off {
		return fmt.Errorf("the sandbox %s shrank while open; was it edited by hand?", s.path)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, s.off, fi.Size()-s.off), 1<<16)
	line := s.off
	for n := 1; ; n++ {
		b, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(b) > 0 && exclusive {
				if err := s.f.Truncate(s.off); err != nil {
					return err
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("%s: byte %d: a line is not a sandbox record: %v", s.path, line, err)
		}
		if rec.Object != nil {
			attrs, err := providers.Normalize(rec.Object.Kind, rec.Object.Attributes)
			if err != nil {
				return fmt.Errorf("%s: byte %d: %v", s.path, line, err)
			}
			rec.Object.Attributes = attrs
		}
		s.apply(&rec)
		line += int64(len(b))
		s.off = line
	}
}

func (s *Store) apply(r *record) {
	switch r.Op {
	case "put":
		o := r.Object
		s.objects[o.ID] = o
		if o.IdempotencyKey != "" {
			s.byKey[o.Provider+"\x00"+o.IdempotencyKey] = o.ID
		}
	case "delete":
		delete(s.objects, r.ID)
	case "fault":
		f := *r.Fault
		s.faults = append(s.faults, &f)
		if f.ID >= s.nextFID {
			s.nextFID = f.ID + 1
		}
	case "call":
		for i, f := range s.faults {
			if f.ID == r.FaultID {
				f.seen++
				if f.seen >= f.Nth {
					s.faults = append(s.faults[:i], s.faults[i+1:]...)
				}
				break
			}
		}
	case "deliver":
		d := r.Delivery
		s.outbox = append(s.outbox, d)
		if d.Key != "" {
			s.sent[d.Provider+"\x00"+d.Key] = d.ID
		}
	}
}

// countCall records a call of op by provider against the pending faults and returns the
// fault that fires on it, if any. It runs inside update.
func (s *Store) countCall(provider, op string) ([]record, *Fault) {
	var recs []record
	var fired *Fault
	for _, f := range s.faults {
		if f.Op != op || (f.Provider != "" && f.Provider != provider) {
			continue
		}
		recs = append(recs, record{Op: "call", FaultID: f.ID})
		if f.seen+1 >= f.Nth && fired == nil {
			c := *f
			fired = &c
		}
	}
	return recs, fired
}

// pending reports whether a fault for op is pending; callers hold s.mu. Calls take the
// exclusive lock needed to count them only then.
func (s *Store) pending(op string) bool {
	for _, f := range s.faults {
		if f.Op == op {
			return true
		}
	}
	return false
}

// AddFault arranges for a call to fail.
func (s *Store) AddFault(_ context.Context, f Fault) error {
	if !contains(faultOps, f.Op) {
		return fmt.Errorf("op %q is not one of %s", f.Op, strings.Join(faultOps, ", "))
	}
	if f.Nth < 1 {
		return fmt.Errorf("--nth is %d; 1 is the next call", f.Nth)
	}
	if !f.LoseResponse && !f.Hang {
		if _, ok := statusCodes[f.Status]; !ok {
			return fmt.Errorf("status %d is not one the sandbox simulates; use one of %s", f.Status, knownStatuses())
		}
	}
	return s.update(func() ([]record, error) {
		f.ID = s.nextFID
		return []record{{Op: "fault", Fault: &f}}, nil
	})
}

func knownStatuses() string {
	var ss []string
	for st := range statusCodes {
		ss = append(ss, strconv.Itoa(st))
	}
	sort.Strings(ss)
	return strings.Join(ss, ", ")
}

// Faults lists the pending faults.
func (s *Store) Faults(context.Context) ([]Fault, error) {
	var out []Fault
	err := s.view(func() error {
		for _, f := range s.faults {
			out = append(out, *f)
		}
		return nil
	})
	return out, err
}

// List returns the objects of a provider and kind (empty matches all), sorted by provider,
// kind and creation.
func (s *Store) List(_ context.Context, provider string, kind providers.Kind) ([]Object, error) {
	var out []Object
	err := s.view(func() error {
		for _, o := range s.objects {
			if (provider == "" || o.Provider == provider) && (kind == "" || o.Kind == kind) {
				out = append(out, o.copy())
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
	return out, err
}

// ErrNoObject is returned for an ID the sandbox does not hold.
var ErrNoObject = errors.New("no such object in the sandbox")

// Get returns one object.
func (s *Store) Get(_ context.Context, id string) (Object, error) {
	var out Object
	err := s.view(func() error {
		o, ok := s.objects[id]
		if !ok {
			return fmt.Errorf("%s: %w", id, ErrNoObject)
		}
		out = o.copy()
		return nil
	})
	return out, err
}

// SetAttribute changes one attribute of an object out of band. A string value is parsed as
// the attribute's type: numbers, true/false, RFC 3339 times or dates, comma-separated lists,
// k=v,... maps; an empty string unsets the attribute.
func (s *Store) SetAttribute(_ context.Context, id, name string, value any) error {
	return s.update(func() ([]record, error) {
		o, ok := s.objects[id]
		if !ok {
			return nil, fmt.Errorf("%s: %w", id, ErrNoObject)
		}
		ks, err := providers.SchemaOf(o.Kind)
		if err != nil {
			return nil, err
		}
		as, ok := ks.Attribute(name)
		if !ok {
			var names []string
			for _, a := range ks.Attributes {
				names = append(names, a.Name)
			}
			return nil, fmt.Errorf("a %s has no attribute %q; it has %s", o.Kind, name, strings.Join(names, ", "))
		}
		if str, ok := value.(string); ok {
			if value, err = parseValue(as.Type, str); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		n := o.copy()
		v, err := providers.Normalize(o.Kind, map[string]any{name: value})
		if err != nil {
			return nil, err
		}
		delete(n.Attributes, name)
		for k, x := range v {
			n.Attributes[k] = x
		}
		n.UpdatedAt = time.Now().UTC()
		return []record{{Op: "put", Object: &n}}, nil
	})
}

func parseValue(t providers.Type, s string) (any, error) {
	if s == "" {
		return nil, nil
	}
	switch t {
	case providers.Int:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	case providers.Float:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case providers.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	case providers.Time:
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.Format(time.RFC3339), nil
		}
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t.Format(time.RFC3339), nil
		}
		return nil, fmt.Errorf("%q is not an RFC 3339 time or a date", s)
	case providers.Strings:
		return strings.Split(s, ","), nil
	case providers.StringMap:
		m := map[string]string{}
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("%q is not a list of key=value", s)
			}
			m[k] = v
		}
		return m, nil
	}
	return s, nil
}

// Delete removes an object out of band.
func (s *Store) Delete(_ context.Context, id string) error {
	return s.update(func() ([]record, error) {
		if _, ok := s.objects[id]; !ok {
			return nil, fmt.Errorf("%s: %w", id, ErrNoObject)
		}
		return []record{{Op: "delete", ID: id}}, nil
	})
}

// Codes returns the codes of a code pool, as the system would export them.
func (s *Store) Codes(ctx context.Context, poolID string) ([]string, error) {
	o, err := s.Get(ctx, poolID)
	if err != nil {
		return nil, err
	}
	if o.Kind != providers.KindCodePool {
		return nil, fmt.Errorf("%s is a %s, not a code_pool", poolID, o.Kind)
	}
	a := o.Attributes
	return providers.GenerateCodes(a.String("pattern"), a.String("charset"), a.String("seed"), int(a.Int("count"))), nil
}

// Deliver records a message a messaging system sent. A repeated key (a retried send)
// returns the first delivery instead of sending twice.
func (s *Store) Deliver(_ context.Context, provider, recipient, text, key string) (Delivery, error) {
	var out Delivery
	err := s.update(func() ([]record, error) {
		if id, ok := s.sent[provider+"\x00"+key]; ok && key != "" {
			for _, d := range s.outbox {
				if d.ID == id {
					out = *d
				}
			}
			return nil, nil
		}
		out = Delivery{ID: newID("dlv"), Provider: provider, Recipient: recipient, Text: text, Key: key, At: time.Now().UTC()}
		return []record{{Op: "deliver", Delivery: &out}}, nil
	})
	return out, err
}

// Outbox lists the delivered messages of a provider (empty for all), oldest first.
func (s *Store) Outbox(_ context.Context, provider string) ([]Delivery, error) {
	var out []Delivery
	err := s.view(func() error {
		for _, d := range s.outbox {
			if provider == "" || d.Provider == provider {
				out = append(out, *d)
			}
		}
		return nil
	})
	return out, err
}

func (o *Object) copy() Object {
	c := *o
	c.Attributes = o.Attributes.Clone()
	if c.Attributes == nil {
		c.Attributes = providers.Attrs{}
	}
	if o.Refs != nil {
		c.Refs = make(map[string]string, len(o.Refs))
		for k, v := range o.Refs {
			c.Refs[k] = v
		}
	}
	return c
}

// newID returns a random ID with a kind prefix, as real systems hand out.
func newID(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return prefix + "_" + hex.EncodeToString(b)
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
