package docker

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrClosed is returned by a Resolver after Close. It matches net.ErrClosed
// with errors.Is.
var ErrClosed error = &closedError{"docker: resolver closed"}

// closedError is an ErrClosed that errors.Is matches with net.ErrClosed.
type closedError struct{ msg string }

func (e *closedError) Error() string        { return e.msg }
func (e *closedError) Is(target error) bool { return target == net.ErrClosed }

// StoppedError: the name belongs to a container that is not running.
type StoppedError struct {
	Container string // its name
	ID        string
	State     string // exited, created, paused, restarting, dead
	Port      int    // the port asked for (0 for LookupHost)
}

func (e *StoppedError) Error() string {
	name := clean(e.Container)
	what := "start it (docker start " + name + ")"
	switch e.State {
	case "paused":
		what = "unpause it (docker unpause " + name + ")"
	case "restarting":
		what = "it is restarting: wait for it, or look at docker logs " + name
	}
	port := ""
	if e.Port > 0 {
		port = " for port " + strconv.Itoa(e.Port)
	}
	return fmt.Sprintf("docker: container %s (%s) is %s, not running%s: %s", clean(e.Container), short(e.ID), clean(e.State), port, what)
}

// UnpublishedError: the container runs, but the resolver may answer only
// with published ports (WithPublishedOnly, or an engine that does not
// route to containers) and none publishes the port.
type UnpublishedError struct {
	Container string
	ID        string
	Port      int
	// Why the resolver answers only with published ports:
	// "WithPublishedOnly", or the engine's reason ("Docker Desktop runs
	// containers in a VM", ...).
	Why string
	// Detail says why the port's bindings gave no address, if it has some.
	Detail string
}

func (e *UnpublishedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "docker: container %s (%s) does not publish port %d", clean(e.Container), short(e.ID), e.Port)
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", clean(e.Detail))
	}
	p := strconv.Itoa(e.Port)
	if e.Why == "WithPublishedOnly" {
		fmt.Fprintf(&b, ", and the resolver answers only with published ports (WithPublishedOnly): publish %s (docker run -p 127.0.0.1::%s, compose ports: [\"%s\"]) or drop WithPublishedOnly", p, p, p)
	} else {
		fmt.Fprintf(&b, ", and this host cannot reach container addresses (%s): publish %s (docker run -p 127.0.0.1::%s, compose ports: [\"%s\"])", e.Why, p, p, p)
	}
	return b.String()
}

// AmbiguousError: a name matches several running containers equally well
// (a compose service scaled to more than one replica, one alias on two
// networks).
type AmbiguousError struct {
	Name       string
	MatchedBy  string   // "alias", "compose service", ...
	Containers []string // their names
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("docker: %s is the %s of %d running containers (%s): use a container name", clean(e.Name), e.MatchedBy, len(e.Containers), clean(strings.Join(e.Containers, ", ")))
}

// EngineError: the engine cannot be reached at its address.
type EngineError struct {
	Host  string    // the engine's address, e.g. unix:///var/run/docker.sock
	Since time.Time // when it stopped answering (zero in New)
	Err   error
}

func (e *EngineError) Error() string {
	if e.Since.IsZero() {
		return fmt.Sprintf("docker: no engine answers at %s: %v", clean(e.Host), e.Err)
	}
	return fmt.Sprintf("docker: the engine at %s does not answer (since %s, retrying): %v", clean(e.Host), e.Since.Format("15:04:05.000"), e.Err)
}

func (e *EngineError) Unwrap() error { return e.Err }

// clean makes text from outside (a name asked for, a container's alias)
// safe to print: control characters, line and paragraph separators
// (U+2028, U+2029) and invalid UTF-8 become Go escapes. It is this
// module's copy of the core's internal/safetext.Printable, which it may
// not import; TestCleanInStep keeps the two in step.
func clean(s string) string {
	for i, r := range s {
		// RuneError is a byte of invalid UTF-8 unless s holds U+FFFD itself there.
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' ||
			r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
