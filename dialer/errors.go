package dialer

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/kafkadial/kafkadial/hop/httpconnect"
	"github.com/kafkadial/kafkadial/hop/ssh"
	"github.com/kafkadial/kafkadial/rules"
)

// ErrNoRoute is wrapped by the error of a dial that no rule matched when the
// dialer is strict (see [WithStrict]).
var ErrNoRoute = errors.New("kafkadial: no rule matches")

// ErrClosed is the cause of dials on a [Dialer] after [Dialer.Close]. It
// matches net.ErrClosed too: errors.Is(err, net.ErrClosed) holds for it,
// as for any use of a closed network connection.
var ErrClosed error = closedError{}

// closedError is ErrClosed's type: its own message, and net.ErrClosed to
// errors.Is.
type closedError struct{}

func (closedError) Error() string        { return "kafkadial: dialer closed" }
func (closedError) Is(target error) bool { return target == net.ErrClosed }

// RuleError reports a problem in rule text: where it is and what was expected.
// [New] returns it as a *RuleError. It is the rule language's own error type,
// rules.Error.
type RuleError = rules.Error

// DialError is the Err of the *net.OpError that a failed remapped dial
// returns. Its message names the advertised address, the target and the rule,
// so a client log line says what was tried.
type DialError struct {
	Route         Route
	DialerTimeout time.Duration // the dialer's own timeout, when it is what expired
	Err           error         // the underlying cause (a syscall error, a TLS error, ErrNoRoute, ...)
}

func (e *DialError) Error() string {
	var b strings.Builder
	r := e.Route
	switch {
	case r.Origin == OriginResolver && r.Target == r.Addr:
		b.WriteString("the kafkadial resolver failed")
	case r.Origin == OriginResolver:
		fmt.Fprintf(&b, "resolved to %s by the kafkadial resolver", r.Target)
	case r.Origin == OriginNone && errors.Is(e.Err, ErrNoRoute):
		b.WriteString("no kafkadial rule matches (strict mode)")
	case r.Origin == OriginNone:
		b.WriteString("no kafkadial rule matched, dialled as is")
	default:
		fmt.Fprintf(&b, "remapped to %s by %s", r.Target, r.Rule)
	}
	if r.Detail != "" {
		fmt.Fprintf(&b, " (%s)", r.Detail)
	}
	if r.Via != "" {
		fmt.Fprintf(&b, " via %s", r.Via)
	}
	if !errors.Is(e.Err, ErrNoRoute) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.DialerTimeout > 0 {
		fmt.Fprintf(&b, " (dialer timeout %s)", e.DialerTimeout)
	}
	return b.String()
}

func (e *DialError) Unwrap() error { return e.Err }

// Timeout reports whether the dial failed because a deadline passed.
func (e *DialError) Timeout() bool {
	if e.DialerTimeout > 0 {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// Temporary reports whether the cause says it is temporary (a timeout, a
// reset). It stays although net.Error deprecates it, because clients still
// read it: *net.OpError's Temporary asks its Err (this *DialError), and
// kafka-go's Writer retries a failed write only when Temporary says so (or
// the cause is a refused/reset connection), as franz-go's retry check also
// asks it. Without it, a dial that timed out through kafkadial would stop
// being retried there.
func (e *DialError) Temporary() bool {
	var t interface{ Temporary() bool }
	return errors.As(e.Err, &t) && t.Temporary()
}

// HostKeyError is the cause of a failed dial when an SSH hop's host key is
// not trusted (package hop/ssh's ssh.HostKeyError).
type HostKeyError = ssh.HostKeyError

// ErrProxyAuth is wrapped by the error of a dial that an HTTP proxy refused
// with 407 Proxy Authentication Required (httpconnect.ErrProxyAuth).
var ErrProxyAuth = httpconnect.ErrProxyAuth
