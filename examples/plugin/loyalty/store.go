package loyalty

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// Store is the loyalty app's data: one JSON file that several processes (one plugin per
// provider block, musubi's own tools) may open at once. Writers take an exclusive file lock
// and replace the file atomically, so a reader never sees half a write and a process killed
// mid-call leaves the previous or the next version, never a mix.
type Store struct {
	path string
	mu   sync.Mutex // the file lock is per process; this orders goroutines within one
}

// data is the file's content.
type data struct {
	// APIKey, when set, is the key every call must carry.
	APIKey  string    `json:"api_key,omitempty"`
	NextID  int64     `json:"next_id"`
	Objects []*Object `json:"objects"`
	Faults  []Fault   `json:"faults,omitempty"`
}

// Object is a coupon or a code pool in the app.
type Object struct {
	ID             string            `json:"id"`
	Program        string            `json:"program"` // the provider block's name: one app, many programmes
	Kind           providers.Kind    `json:"kind"`
	Attributes     providers.Attrs   `json:"attributes"`
	Refs           map[string]string `json:"refs,omitempty"`
	Codes          []string          `json:"codes,omitempty"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

// Fault makes the app fail the next call of Op in Program: with an HTTP Status (nothing is
// done), or, with Lose, doing the work and then timing out, as a lost response does.
type Fault struct {
	Program string `json:"program"`
	Op      string `json:"op"`
	Status  int    `json:"status,omitempty"`
	Lose    bool   `json:"lose,omitempty"`
}

// OpenStore returns the store at path; the file is created on the first write.
func OpenStore(path string) *Store { return &Store{path: path} }

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// load reads the file and restores each attribute's Go type, which JSON flattens (an int64
// count comes back as a float64).
func (s *Store) load() (*data, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return &data{}, nil
	}
	if err != nil {
		return nil, err
	}
	var d data
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	for _, o := range d.Objects {
		attrs, err := providers.Normalize(o.Kind, o.Attributes)
		if err != nil {
			return nil, fmt.Errorf("%s: object %s: %w", s.path, o.ID, err)
		}
		o.Attributes = attrs
	}
	return &d, nil
}

// view reads the file without locking: writes replace it atomically.
func (s *Store) view(fn func(d *data) error) error {
	d, err := s.load()
	if err != nil {
		return err
	}
	return fn(d)
}

// update runs fn on the file's content under the file lock and writes the result back,
// unless fn fails.
func (s *Store) update(fn func(d *data) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFile(s.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	d, err := s.load()
	if err != nil {
		return err
	}
	if err := fn(d); err != nil {
		return err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}

func (d *data) byID(id string) *Object {
	for _, o := range d.Objects {
		if o.ID == id {
			return o
		}
	}
	return nil
}

func (d *data) byKey(program, key string) *Object {
	if key == "" {
		return nil
	}
	for _, o := range d.Objects {
		if o.Program == program && o.IdempotencyKey == key {
			return o
		}
	}
	return nil
}

// takeFault removes and returns the first fault pending for a call, if any.
func (d *data) takeFault(program, op string) *Fault {
	for i, f := range d.Faults {
		if f.Program == program && f.Op == op {
			d.Faults = slices.Delete(d.Faults, i, i+1)
			return &f
		}
	}
	return nil
}

func (d *data) hasFault(program, op string) bool {
	return slices.ContainsFunc(d.Faults, func(f Fault) bool { return f.Program == program && f.Op == op })
}

func (d *data) newID(k providers.Kind) string {
	d.NextID++
	return fmt.Sprintf("%s_%06d", idPrefix[k], d.NextID)
}

// AddFault makes the app fail a later call (see Fault).
func (s *Store) AddFault(f Fault) error {
	return s.update(func(d *data) error {
		d.Faults = append(d.Faults, f)
		return nil
	})
}

// SetAttribute changes an object behind Musubi's back, as an edit in the app's admin would.
func (s *Store) SetAttribute(id, attr string, value any) error {
	return s.update(func(d *data) error {
		o := d.byID(id)
		if o == nil {
			return fmt.Errorf("no object %s", id)
		}
		attrs := o.Attributes.Clone()
		attrs[attr] = value
		norm, err := providers.Normalize(o.Kind, attrs)
		if err != nil {
			return err
		}
		o.Attributes, o.UpdatedAt = norm, time.Now().UTC()
		return nil
	})
}

// Remove deletes an object behind Musubi's back.
func (s *Store) Remove(id string) error {
	return s.update(func(d *data) error {
		d.Objects = slices.DeleteFunc(d.Objects, func(o *Object) bool { return o.ID == id })
		return nil
	})
}

// SetAPIKey makes the app require a key on every call.
func (s *Store) SetAPIKey(key string) error {
	return s.update(func(d *data) error {
		d.APIKey = key
		return nil
	})
}

// Objects lists the app's objects in creation order.
func (s *Store) Objects() ([]Object, error) {
	var out []Object
	err := s.view(func(d *data) error {
		for _, o := range d.Objects {
			out = append(out, *o)
		}
		return nil
	})
	return out, err
}
