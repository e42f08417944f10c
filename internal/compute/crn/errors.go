package crn

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a failure with the HTTP status the node answers it with and a
// reason for the caller.
type Error struct {
	Status int
	Reason string
	Err    error // cause, may be nil
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// errorf returns an *Error with status and a formatted reason.
func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// wrap returns an *Error with status, reason and cause.
func wrap(status int, err error, format string, args ...any) *Error {
	return &Error{Status: status, Reason: fmt.Sprintf(format, args...), Err: err}
}

// Sentinel failures.
var (
	// ErrDraining is the answer to program requests during shutdown.
	ErrDraining = &Error{Status: http.StatusServiceUnavailable, Reason: "Server is draining, try another node"}
	// ErrCapacity is the answer when an execution does not fit the node.
	ErrCapacity = &Error{Status: http.StatusServiceUnavailable, Reason: "Insufficient capacity"}
)

// statusOf returns the HTTP status and the message of err.
func statusOf(err error) (int, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Error()
	}
	return http.StatusInternalServerError, err.Error()
}
