package lang

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	binenc "encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	exprpb "google.golang.org/genproto/googleapis/api/expr/v1alpha1"
	"google.golang.org/protobuf/proto"
)

// A CEL cache file records, from one run to the next, which expressions of a programme
// compiled without a problem, so that one unchanged since the last run is not parsed and
// checked again: validate needs of it only that it is valid, the references it makes to traits
// and segments, and its result type, which the entry keeps. The checked tree is worked out
// when the expression is first evaluated, the same as at its first compilation. An entry is
// found by the hash of everything the compilation follows from: the environment (the event
// types, and the traits with their types and the segments the schema is built from), the
// context, the required result type, the cost limit and the text. An expression with a
// problem is never kept: it is compiled every time, for its diagnostics. The file holds the
// entries of one build of musubi and is ignored by any other, and ignored when its checksum
// does not match. It is written to a temporary file and renamed into place, so a concurrent
// run reads the old file or the new one.

// cacheMagic starts every cache file; a new layout is a new magic.
const cacheMagic = "musubi CEL cache 1\n"

type cacheKey [sha256.Size]byte

type celCache struct {
	path string
	old  map[cacheKey][]byte // the entries read from the file

	mu    sync.Mutex
	used  map[cacheKey][]byte // the entries of this run: what the file will hold
	fresh bool                // used has entries the file does not
}

// openCELCache reads the cache file at path; a missing, foreign or damaged file is an empty
// cache. It returns nil when this build cannot tell itself from others.
func openCELCache(path string) *celCache {
	id := buildIdentity()
	if id == "" {
		return nil
	}
	c := &celCache{path: path, old: map[cacheKey][]byte{}, used: map[cacheKey][]byte{}}
	data, err := os.ReadFile(path)
	if err != nil || len(data) < sha256.Size {
		return c
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return c
	}
	rest, ok := bytes.CutPrefix(body, []byte(cacheMagic))
	if !ok {
		return c
	}
	header, rest, ok := cutChunk(rest)
	if !ok || string(header) != id {
		return c
	}
	entries := map[cacheKey][]byte{}
	for len(rest) > 0 {
		if len(rest) < sha256.Size {
			return c
		}
		var k cacheKey
		copy(k[:], rest)
		var v []byte
		if v, rest, ok = cutChunk(rest[sha256.Size:]); !ok {
			return c
		}
		entries[k] = v
	}
	c.old = entries
	return c
}

// cutChunk splits a length-prefixed chunk off b.
func cutChunk(b []byte) (chunk, rest []byte, ok bool) {
	n, w := binenc.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}

func (c *celCache) key(env string, ctx Context, want string, costLimit uint64, src string) cacheKey {
	h := sha256.New()
	for _, s := range []string{env, string(ctx), want, strconv.FormatUint(costLimit, 10), src} {
		var n [binenc.MaxVarintLen64]byte
		h.Write(n[:binenc.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// get returns what is kept under k: the references the expression makes and its result
// type. An entry that cannot be read is missing.
func (c *celCache) get(k cacheKey) ([]celRef, *cel.Type, bool) {
	data, ok := c.old[k]
	if !ok {
		return nil, nil, false
	}
	list, rest, ok := cutChunk(data)
	if !ok {
		return nil, nil, false
	}
	var refs []celRef
	for len(list) > 0 {
		kind, more, ok1 := cutChunk(list)
		name, more, ok2 := cutChunk(more)
		if !ok1 || !ok2 {
			return nil, nil, false
		}
		refs = append(refs, celRef{string(kind), string(name)})
		list = more
	}
	var pb exprpb.Type
	if proto.Unmarshal(rest, &pb) != nil {
		return nil, nil, false
	}
	t, err := types.ExprTypeToType(&pb)
	if err != nil {
		return nil, nil, false
	}
	c.mu.Lock()
	c.used[k] = data
	c.mu.Unlock()
	return refs, t, true
}

// put keeps the references and result type of an expression that compiled without a problem.
func (c *celCache) put(k cacheKey, refs []celRef, out *cel.Type) {
	pb, err := types.TypeToExprType(out)
	if err != nil {
		return
	}
	var list []byte
	for _, r := range refs {
		list = binenc.AppendUvarint(list, uint64(len(r.kind)))
		list = append(list, r.kind...)
		list = binenc.AppendUvarint(list, uint64(len(r.name)))
		list = append(list, r.name...)
	}
	data := binenc.AppendUvarint(nil, uint64(len(list)))
	data = append(data, list...)
	data, err = proto.MarshalOptions{Deterministic: true}.MarshalAppend(data, pb)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.used[k] = data
	c.fresh = true
	c.mu.Unlock()
}

// save writes the entries of this run, when they differ from the file's.
func (c *celCache) save() error {
	if !c.fresh && len(c.used) == len(c.old) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), filepath.Base(c.path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	w := bufio.NewWriterSize(tmp, 1<<16)
	out := func(b []byte) {
		w.Write(b)
		h.Write(b)
	}
	chunk := func(b []byte) {
		var n [binenc.MaxVarintLen64]byte
		out(n[:binenc.PutUvarint(n[:], uint64(len(b)))])
		out(b)
	}
	out([]byte(cacheMagic))
	chunk([]byte(buildIdentity()))
	keys := make([]cacheKey, 0, len(c.used))
	for k := range c.used {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b cacheKey) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range keys {
		out(k[:])
		chunk(c.used[k])
	}
	w.Write(h.Sum(nil))
	err = errors.Join(w.Flush(), tmp.Close())
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}

// buildIdentity tells this build of musubi from any other: the Go release, the versions of
// the modules built in, and the executable's size and modification time (a build from a
// modified working tree carries the same versions). Empty when the executable is unknown.
var buildIdentity = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	st, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s/%s\n%s %d %d\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, exe, st.Size(), st.ModTime().UnixNano())
	if info, ok := debug.ReadBuildInfo(); ok {
		b.WriteString(info.String())
	}
	return b.String()
})
