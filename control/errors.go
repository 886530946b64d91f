package control

import (
	"errors"
	"fmt"
)

// ErrNotRunning is matched (errors.Is) by the error Dial returns when the
// control socket does not exist or nobody accepts connections on it.
var ErrNotRunning = errors.New("metrod is not running")

// notRunningError is returned by Dial when metrod is not running. It matches
// both ErrNotRunning and the underlying dial error.
type notRunningError struct {
	path string
	err  error
}

func (e *notRunningError) Error() string {
	return fmt.Sprintf("metrod is not running (no control socket at %s)", e.path)
}

func (e *notRunningError) Unwrap() []error { return []error{ErrNotRunning, e.err} }

// RemoteError is an error reported by metrod in a {"ok":false} response, as
// opposed to a failure to talk to it.
type RemoteError struct {
	Message string
}

func (e *RemoteError) Error() string { return e.Message }
