package docker

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
)

// FuzzEngineAddr: any engine address gives a result or an error, never a
// panic; errors carry no control bytes and no password.
func FuzzEngineAddr(f *testing.F) {
	for _, s := range []string{"unix:///var/run/docker.sock", "tcp://docker-host:2375", "ssh://u@h", "tcp://u:pw@h:1", "https://[::1]:2376/x", "npipe:////./pipe/docker_engine", "tcp://", "\x1b[31m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		_, err := classify(host)
		if err == nil {
			return
		}
		msg := err.Error()
		for _, r := range msg {
			if unicode.IsControl(r) {
				t.Fatalf("control character in %q", msg)
			}
		}
		if u, perr := url.Parse(host); perr == nil && u.User != nil {
			// A password written once (not repeated elsewhere in the address)
			// must not show.
			if pw, ok := u.User.Password(); ok && len(pw) > 3 && strings.Count(host, pw) == 1 && strings.Contains(msg, pw) && !strings.Contains("xxxxx"+u.Scheme+u.Host+u.User.Username(), pw) {
				t.Fatalf("password %q in %q", pw, msg)
			}
		}
	})
}

// FuzzCanonical: the table's key for any name is stable (canonical of a
// canonical key is itself) and lookups never panic.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"Kafka-1.", "198.18.0.1", "::ffff:198.18.0.1", "[::1]", "", ".", "3f2a1c9d4e5b"} {
		f.Add(s)
	}
	r := offline(hosts{}, false, "", kafka3())
	f.Fuzz(func(t *testing.T, host string) {
		k := canonical(host)
		if canonical(k) != k && !strings.HasSuffix(k, ".") {
			t.Fatalf("canonical(%q) = %q, canonical of that = %q", host, k, canonical(k))
		}
		r.Resolve(t.Context(), host+":29092")
		r.LookupHost(t.Context(), host)
	})
}
