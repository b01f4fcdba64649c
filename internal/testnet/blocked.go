package testnet

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// WaitBlocked waits until a goroutine whose stack holds a call of fn (as
// the runtime names it, e.g. "streamconn.(*Conn).Read") is parked: in a
// select, a channel operation, a lock or a network wait, not running. A
// test that must act on a call already blocked waits on that state
// instead of sleeping. It fails the test after 10 seconds.
func WaitBlocked(t testing.TB, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		n := runtime.Stack(buf, true)
		if n == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			header, stack, _ := strings.Cut(g, "\n")
			if strings.Contains(stack, fn+"(") && !strings.Contains(header, "[running") && !strings.Contains(header, "[runnable") {
				return
			}
		}
		time.Sleep(time.Millisecond) // poll the state, bounded by the deadline
	}
	t.Fatalf("no goroutine blocked in %s after 10s", fn)
}
