package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/streaming/pkg/httpstream"
)

// Errors that a dial's *Error wraps, for callers that branch with errors.Is.
var (
	// ErrBadAddress: the address is none of the forms the dialer maps.
	ErrBadAddress = errors.New("not a Kubernetes address")
	// ErrNotFound: no such pod or service.
	ErrNotFound = errors.New("not found")
	// ErrNotRunning: the pod exists but is not running.
	ErrNotRunning = errors.New("pod not running")
	// ErrNoEndpoints: the service has no ready pod behind it.
	ErrNoEndpoints = errors.New("no ready endpoints")
	// ErrForbidden: RBAC denies what the dial needs (pods get,
	// endpointslices list, pods/portforward create).
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthorized: the API server rejected the credentials.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnreachable: the API server could not be reached.
	ErrUnreachable = errors.New("API server unreachable")
	// ErrLost: the port-forward connection carrying a conn ended.
	ErrLost = errors.New("port-forward connection lost")
	// ErrClosed: the Dialer, or the Builder asked to build, was closed.
	// It matches net.ErrClosed with errors.Is.
	ErrClosed error = &closedError{"kube dialer closed"}
)

// closedError is an ErrClosed that errors.Is matches with net.ErrClosed.
type closedError struct{ msg string }

func (e *closedError) Error() string        { return e.msg }
func (e *closedError) Is(target error) bool { return target == net.ErrClosed }

// An Error is what a failed dial returns: which context, what the address
// named, and what failed. Kind is one of the Err* values above (nil when
// none fits); Err is the cause as client-go or the API server gave it.
type Error struct {
	Context string // kubeconfig context
	Addr    string // the address dialled
	What    string // "pod kafka-0 in namespace kafka", "service kafka-bootstrap in namespace kafka", ...
	Op      string // what was being done: "get pod", "list endpointslices", "open port-forward", ...
	Kind    error
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "k8s://%s", e.Context)
	if e.What != "" {
		fmt.Fprintf(&b, ": %s", e.What)
	}
	if e.Op != "" {
		fmt.Fprintf(&b, ": %s", e.Op)
	}
	switch {
	case e.Kind != nil && e.Err != nil:
		fmt.Fprintf(&b, ": %s: %s", e.Kind, printable(e.Err.Error()))
	case e.Kind != nil:
		fmt.Fprintf(&b, ": %s", e.Kind)
	case e.Err != nil:
		fmt.Fprintf(&b, ": %s", printable(e.Err.Error()))
	}
	return b.String()
}

// Unwrap returns Kind and Err, so errors.Is finds both.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Timeout reports whether a deadline passed.
func (e *Error) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.Is(e.Err, context.DeadlineExceeded) || errors.As(e.Err, &t) && t.Timeout()
}

// classify picks the Kind of an error from client-go: an API status (not
// found, forbidden, unauthorized), an upgrade refused with one, or a
// network failure reaching the API server.
func classify(err error) error {
	if cause := upgradeFailure(err); cause != nil {
		if k := classify(cause); k != nil {
			return k
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		return ErrNotFound
	case apierrors.IsForbidden(err):
		return ErrForbidden
	case apierrors.IsUnauthorized(err):
		return ErrUnauthorized
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return nil
	}
	var ue *url.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ue) && !ue.Timeout() {
		return ErrUnreachable
	}
	if s := err.Error(); strings.Contains(s, "connection refused") || strings.Contains(s, "no such host") {
		return ErrUnreachable
	}
	return nil
}

// upgradeCause returns what a refused upgrade says, without the wrapping
// that repeats it ("unable to upgrade streaming request: ...").
func upgradeCause(err error) error {
	if cause := upgradeFailure(err); cause != nil {
		var se *apierrors.StatusError
		if errors.As(cause, &se) {
			return se
		}
	}
	return err
}

// upgradeFailure returns the cause of a refused upgrade, or nil.
func upgradeFailure(err error) error {
	if u := (*httpstream.UpgradeFailureError)(nil); errors.As(err, &u) {
		return u.Cause
	}
	return nil
}
