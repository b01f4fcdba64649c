package discover

import "testing"

func FuzzListeners(f *testing.F) {
	for _, s := range []string{"PLAINTEXT://kafka:29092,PLAINTEXT_HOST://localhost:9092", "SSL://[::1]:9093", "X://:1,", "://a:1", "A://a", "A://a:99999", "A://[::1:1"} {
		f.Add(s, "PLAINTEXT:PLAINTEXT,X:SSL")
	}
	f.Fuzz(func(t *testing.T, listeners, protoMap string) {
		ls, err := parseListeners("L", listeners)
		if err == nil {
			for _, l := range ls {
				if l.name == "" || l.port < 0 || l.port > 65535 {
					t.Fatalf("accepted %+v from %q", l, listeners)
				}
			}
		}
		m, err := parseProtocolMap("M", protoMap)
		if err == nil {
			for k, v := range m {
				if k == "" || defaultProtocols[v] == "" {
					t.Fatalf("accepted %q:%q from %q", k, v, protoMap)
				}
			}
		}
	})
}
