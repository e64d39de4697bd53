package providers

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Severity of a diagnostic.
type Severity int

// Severities.
const (
	Error Severity = iota
	Warning
)

// Diagnostic is a problem a provider reports. Attribute names the canonical attribute it is
// about, so the planner can point at the line of the configuration that set it.
type Diagnostic struct {
	Severity  Severity
	Summary   string
	Detail    string
	Attribute string
	// Err is the classified cause, when the problem came from the remote system.
	Err *APIError
}

// Diagnostics is a list of problems.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Err returns the errors joined as one error, or nil.
func (ds Diagnostics) Err() error {
	var msgs []string
	var first *APIError
	for _, d := range ds {
		if d.Severity != Error {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Attribute != "" {
			msg = d.Attribute + ": " + msg
		}
		msgs = append(msgs, msg)
		if first == nil && d.Err != nil {
			first = d.Err
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	err := errors.New(strings.Join(msgs, "; "))
	if first != nil {
		return &wrapped{msg: err.Error(), cause: first}
	}
	return err
}

type wrapped struct {
	msg   string
	cause *APIError
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.cause }

// Errorf makes an error diagnostic.
func Errorf(summary, format string, args ...any) Diagnostics {
	return Diagnostics{{Severity: Error, Summary: summary, Detail: fmt.Sprintf(format, args...)}}
}

// AttributeError makes an error diagnostic about one attribute.
func AttributeError(attr, summary, format string, args ...any) Diagnostic {
	return Diagnostic{Severity: Error, Attribute: attr, Summary: summary, Detail: fmt.Sprintf(format, args...)}
}

// FromError makes diagnostics from an error, keeping an APIError's classification.
func FromError(summary string, err error) Diagnostics {
	if err == nil {
		return nil
	}
	d := Diagnostic{Severity: Error, Summary: summary, Detail: err.Error()}
	var ae *APIError
	if errors.As(err, &ae) {
		d.Err = ae
	}
	return Diagnostics{d}
}

// ErrorCode classifies what went wrong in a remote system, so the planner and engine can react
// the same way to every provider: retry, back off, re-read, or stop.
type ErrorCode string

// The error classes every provider maps its API's errors to.
const (
	ErrNotFound    ErrorCode = "not_found"    // the object does not exist
	ErrConflict    ErrorCode = "conflict"     // duplicate, or a stale version
	ErrInvalid     ErrorCode = "invalid"      // the system refused the values
	ErrAuth        ErrorCode = "auth"         // missing or wrong credentials, or no permission
	ErrRateLimited ErrorCode = "rate_limited" // slow down; RetryAfter says how long
	ErrQuota       ErrorCode = "quota"        // a period's allowance is used up; retrying soon won't help
	ErrUnavailable ErrorCode = "unavailable"  // the system failed or timed out; retry later
)

// APIError is an error from a remote system, classified.
type APIError struct {
	Code ErrorCode
	// Status is the HTTP status, when there was one.
	Status int
	// RetryAfter is how long the system asked to wait, when it said.
	RetryAfter time.Duration
	// Message is the system's own message.
	Message string
	// RequestID identifies the request in the system's logs, when it returned one.
	RequestID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	if e.RequestID != "" {
		b.WriteString("; request " + e.RequestID)
	}
	return b.String()
}

// Temporary reports whether retrying the same call later may succeed.
func (e *APIError) Temporary() bool {
	return e.Code == ErrRateLimited || e.Code == ErrUnavailable
}

// CodeOf returns the classification of err, or "" when it is not an APIError.
func CodeOf(err error) ErrorCode {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}
