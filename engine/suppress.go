package engine

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/musubi-hq/musubi/engine/identity"
)

// A forgotten person stays forgotten: the identifiers they had and the IDs of the events they
// sent are kept as suppressions, and a later event carrying any of them is acknowledged and
// dropped (Result.Suppressed): nothing of it is stored and nothing fires, even when it names
// someone else too, since the rest of it (a name, an order) may be the forgotten person's.
// Suppressions are HMAC-SHA256 digests under a random key of the store's, never the values:
// whoever holds the store can test a guess, not read a list.
type suppressions struct {
	key  []byte
	macs sync.Pool // *mac
	// set is replaced, never changed: forgets are rare, and every event reads it unlocked.
	set atomic.Pointer[map[digest]struct{}]
}

type digest [sha256.Size]byte

// mac is an HMAC with room for its input and output, so that hashing allocates nothing.
type mac struct {
	h   hash.Hash
	in  []byte
	out []byte
}

// eventKeyPrefix keeps the digests of event keys apart from those of identifiers ("type:value",
// and a type is never empty).
const eventKeyPrefix = ":event:"

func newSuppressions(key []byte, hashes [][]byte) *suppressions {
	s := &suppressions{key: key}
	s.macs.New = func() any { return &mac{h: hmac.New(sha256.New, key), out: make([]byte, 0, sha256.Size)} }
	set := make(map[digest]struct{}, len(hashes))
	for _, h := range hashes {
		set[digest(h)] = struct{}{}
	}
	s.set.Store(&set)
	return s
}

// sum is the HMAC of a, b and c one after the other.
func (s *suppressions) sum(a, b, c string) digest {
	m := s.macs.Get().(*mac)
	m.in = append(append(append(m.in[:0], a...), b...), c...)
	m.h.Reset()
	m.h.Write(m.in)
	d := digest(m.h.Sum(m.out[:0]))
	s.macs.Put(m)
	return d
}

// of returns the digest of a normalised identifier.
func (s *suppressions) of(id identity.ID) digest { return s.sum(id.Type, ":", id.Value) }

// ofEvent returns the digest of an event key.
func (s *suppressions) ofEvent(key string) digest { return s.sum(eventKeyPrefix, key, "") }

func (s *suppressions) has(d digest) bool {
	_, ok := (*s.set.Load())[d]
	return ok
}

// empty is what the ingest path asks first: with no suppression, nothing is hashed.
func (s *suppressions) empty() bool { return len(*s.set.Load()) == 0 }

// change replaces the set with one where add are in and remove out.
func (s *suppressions) change(add []digest, remove ...digest) {
	set := maps.Clone(*s.set.Load())
	for _, d := range add {
		set[d] = struct{}{}
	}
	for _, d := range remove {
		delete(set, d)
	}
	s.set.Store(&set)
}

func digestBytes(ds []digest) [][]byte {
	out := make([][]byte, len(ds))
	for i := range ds {
		out[i] = ds[i][:]
	}
	return out
}

// suppressed reports an event of a forgotten person: one with an identifier or an event key
// a forget suppressed, or naming a forgotten Uni-ID. Identifiers the graph holds are not
// hashed: a suppressed one never enters it.
func (e *Engine) suppressed(ev *Event) bool {
	if ev.depth > 0 {
		return false // the engine's own, made from an event that was let through
	}
	if ev.Customer != "" && e.graph.Forgotten(ev.Customer) {
		return true
	}
	if e.suppress.empty() {
		return false
	}
	if e.suppress.has(e.suppress.ofEvent(ev.key)) {
		return true
	}
	ids, _ := e.identifiersOf(ev)
	for _, id := range ids {
		if _, known := e.graph.Lookup(id); !known && e.suppress.has(e.suppress.of(id)) {
			return true
		}
	}
	return false
}

// forgetDigests returns the suppressions a forget adds: the person's identifiers and the keys
// of the events they sent (not those the engine derived).
func (e *Engine) forgetDigests(ids []identity.ID, keys []string) []digest {
	out := make([]digest, 0, len(ids)+len(keys))
	for _, id := range ids {
		out = append(out, e.suppress.of(id))
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "engine:") {
			out = append(out, e.suppress.ofEvent(k))
		}
	}
	return out
}

// Unsuppress lifts the suppression of one identifier ("TYPE:VALUE", normalised as events are),
// after the person asked to be known again: events carrying it are taken from then on. The
// keys of the events erased stay suppressed. It reports whether the identifier was suppressed.
func (e *Engine) Unsuppress(ctx context.Context, ref string) (bool, error) {
	typ, val, ok := strings.Cut(ref, ":")
	if !ok {
		return false, inputError{fmt.Errorf("want an identifier TYPE:VALUE, e.g. email:hanako@example.jp")}
	}
	v, err := e.graph.Rules().Normalize(typ, val)
	if err != nil {
		return false, inputError{fmt.Errorf("%s: %w", typ, err)}
	}
	d := e.suppress.of(identity.ID{Type: typ, Value: v})
	found := false
	err = e.submitTx(ctx, func(st *txState) error {
		if found = e.suppress.has(d); found {
			e.suppress.change(nil, d)
			st.tx.record(func(tx Tx) error { return tx.Unsuppress(d[:]) })
		}
		return nil
	})
	return found, err
}

// handleUnsuppress serves DELETE /v1/admin/suppressions/{id}.
func (e *Engine) handleUnsuppress(w http.ResponseWriter, r *http.Request) {
	found, err := e.Unsuppress(r.Context(), r.PathValue("id"))
	switch {
	case err != nil:
		writeError(w, statusOf(err), err)
	case !found:
		writeError(w, http.StatusNotFound, errors.New("the identifier is not suppressed"))
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
