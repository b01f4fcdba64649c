package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/kafkadial/kafkadial/kafkatest"
)

// runSocat forwards as `socat TCP-LISTEN:PORT[,opts] TCP:HOST:PORT[,opts]`
// does with fork (one connection after another, each to its own upstream
// connection). Options after a comma are ignored; socat's own flags
// (-d, -v, ...) too.
func runSocat(args []string) (func(), error) {
	var addrs []string
	for _, a := range words(args) {
		if len(a) > 1 && a[0] == '-' {
			continue
		}
		addrs = append(addrs, a)
	}
	if len(addrs) != 2 {
		return nil, fmt.Errorf("socat: want two addresses, TCP-LISTEN:PORT and TCP:HOST:PORT; got %q", addrs)
	}
	kind := func(a string) (string, string) {
		a, _, _ = strings.Cut(a, ",")
		k, rest, _ := strings.Cut(a, ":")
		return strings.ToUpper(k), rest
	}
	lk, port := kind(addrs[0])
	switch lk {
	case "TCP-LISTEN", "TCP-L", "TCP4-LISTEN", "TCP4-L":
	default:
		return nil, fmt.Errorf("socat: %q: this stand-in listens with TCP-LISTEN only", addrs[0])
	}
	ck, target := kind(addrs[1])
	switch ck {
	case "TCP", "TCP-CONNECT", "TCP4", "TCP4-CONNECT":
	default:
		return nil, fmt.Errorf("socat: %q: this stand-in connects with TCP only", addrs[1])
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("socat: %q: %v", addrs[1], err)
	}
	f, err := kafkatest.Forward(":"+port, target)
	if err != nil {
		return nil, fmt.Errorf("socat: %w", err)
	}
	fmt.Printf("socat: forwarding %s to %s\n", f.Addr(), target)
	return func() { f.Close() }, nil
}

// runToxiproxy forwards each enabled proxy of a toxiproxy configuration
// file (-config FILE): a JSON list of {name, listen, upstream, enabled}.
// Toxics and the HTTP API on -port are not served.
func runToxiproxy(args []string) (func(), error) {
	file := ""
	for i, a := range args {
		a = strings.TrimPrefix(a, "-")
		switch {
		case strings.HasPrefix(a, "-config="), strings.HasPrefix(a, "config="):
			_, file, _ = strings.Cut(a, "=")
		case (a == "config" || a == "-config") && i+1 < len(args):
			file = args[i+1]
		}
	}
	if file == "" {
		return nil, fmt.Errorf("toxiproxy: no -config file: this stand-in serves only the proxies a configuration file sets up")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: %w", err)
	}
	var proxies []struct {
		Name     string `json:"name"`
		Listen   string `json:"listen"`
		Upstream string `json:"upstream"`
		Enabled  *bool  `json:"enabled"`
	}
	if err := json.Unmarshal(b, &proxies); err != nil {
		return nil, fmt.Errorf("toxiproxy: %s: %w", file, err)
	}
	var fs []*kafkatest.Forwarder
	stop := func() {
		for _, f := range fs {
			f.Close()
		}
	}
	for _, p := range proxies {
		if p.Enabled != nil && !*p.Enabled {
			fmt.Printf("toxiproxy: proxy %q is disabled\n", p.Name)
			continue
		}
		f, err := kafkatest.Forward(p.Listen, p.Upstream)
		if err != nil {
			stop()
			return nil, fmt.Errorf("toxiproxy: proxy %q: %w", p.Name, err)
		}
		fs = append(fs, f)
		fmt.Printf("toxiproxy: proxy %q forwards %s to %s\n", p.Name, f.Addr(), p.Upstream)
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("toxiproxy: %s sets up no enabled proxy", file)
	}
	return stop, nil
}
