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
	WaitBlockedN(t, fn, 1)
}

// WaitBlockedN is WaitBlocked for n goroutines (at least) parked in fn.
func WaitBlockedN(t testing.TB, fn string, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	got := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		size := runtime.Stack(buf, true)
		if size == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		got = 0
		for _, g := range strings.Split(string(buf[:size]), "\n\n") {
			header, stack, _ := strings.Cut(g, "\n")
			if strings.Contains(stack, fn+"(") && !strings.Contains(header, "[running") && !strings.Contains(header, "[runnable") {
				got++
			}
		}
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond) // poll the state, bounded by the deadline
	}
	t.Fatalf("%d goroutines blocked in %s after 10s, want %d", got, fn, n)
}
