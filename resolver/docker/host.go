package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
)

// engineAddr is where the engine is and how to talk to it.
type engineAddr struct {
	host   string // e.g. unix:///var/run/docker.sock
	source string // where host came from: WithHost, DOCKER_HOST, context NAME, default
	tlsDir string // a directory with ca.pem, cert.pem, key.pem ("" = no TLS)
	verify bool   // verify the engine's certificate (with tlsDir)
}

// findEngine picks the engine address as the docker command line does:
// WithHost, then DOCKER_HOST (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH),
// then the current context (DOCKER_CONTEXT, or currentContext in
// $DOCKER_CONFIG/config.json, default ~/.docker), then the platform
// default.
func findEngine(withHost string, getenv func(string) string) (engineAddr, error) {
	if withHost != "" {
		return engineAddr{host: withHost, source: "WithHost"}, nil
	}
	if h := getenv("DOCKER_HOST"); h != "" {
		a := engineAddr{host: h, source: "DOCKER_HOST"}
		if getenv("DOCKER_TLS_VERIFY") != "" || getenv("DOCKER_CERT_PATH") != "" {
			a.tlsDir = getenv("DOCKER_CERT_PATH")
			if a.tlsDir == "" {
				a.tlsDir = filepath.Join(homeDir(getenv), ".docker")
			}
			a.verify = getenv("DOCKER_TLS_VERIFY") != ""
		}
		return a, nil
	}
	cfgDir := getenv("DOCKER_CONFIG")
	if cfgDir == "" {
		cfgDir = filepath.Join(homeDir(getenv), ".docker")
	}
	name, source := getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	if name == "" {
		b, err := os.ReadFile(filepath.Join(cfgDir, "config.json"))
		if err == nil {
			var cfg struct {
				CurrentContext string `json:"currentContext"`
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				return engineAddr{}, fmt.Errorf("docker: reading the docker CLI's current context: %s: %w", filepath.Join(cfgDir, "config.json"), err)
			}
			name, source = cfg.CurrentContext, "currentContext in "+filepath.Join(cfgDir, "config.json")
		}
	}
	if name != "" && name != "default" {
		return contextEngine(cfgDir, name, source)
	}
	return engineAddr{host: client.DefaultDockerHost, source: "default"}, nil
}

// contextEngine reads a docker CLI context's docker endpoint.
func contextEngine(cfgDir, name, source string) (engineAddr, error) {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	meta := filepath.Join(cfgDir, "contexts", "meta", id, "meta.json")
	b, err := os.ReadFile(meta)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return engineAddr{}, fmt.Errorf("docker: context %q (from %s) does not exist: no %s", clean(name), source, meta)
		}
		return engineAddr{}, fmt.Errorf("docker: context %q: %w", clean(name), err)
	}
	var m struct {
		Endpoints map[string]struct {
			Host          string
			SkipTLSVerify bool
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return engineAddr{}, fmt.Errorf("docker: context %q: %s: %w", clean(name), meta, err)
	}
	ep, ok := m.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return engineAddr{}, fmt.Errorf("docker: context %q has no docker endpoint (%s)", clean(name), meta)
	}
	a := engineAddr{host: ep.Host, source: fmt.Sprintf("context %q", clean(name))}
	tlsDir := filepath.Join(cfgDir, "contexts", "tls", id, "docker")
	if _, err := os.Stat(filepath.Join(tlsDir, "ca.pem")); err == nil {
		a.tlsDir, a.verify = tlsDir, !ep.SkipTLSVerify
	}
	return a, nil
}

func homeDir(getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

// classify says whether the engine's address is on another machine, and
// which host reaches its published ports.
func classify(host string) (hosts, error) {
	u, err := url.Parse(host)
	if err != nil {
		// url's error repeats the address raw: say it without it.
		return hosts{}, fmt.Errorf("docker: engine address %q is not a URL (unix:///path, tcp://host:port)", clean(redact(host)))
	}
	switch u.Scheme {
	case "unix", "npipe":
		return hosts{}, nil
	case "tcp", "http", "https":
		h := u.Hostname()
		if h == "" {
			return hosts{}, fmt.Errorf("docker: engine address %q has no host", clean(redact(host)))
		}
		if h == "localhost" {
			return hosts{}, nil
		}
		if a, err := netip.ParseAddr(h); err == nil && a.IsLoopback() {
			return hosts{}, nil
		}
		return hosts{remote: true, engineHost: h}, nil
	case "ssh":
		return hosts{}, fmt.Errorf("docker: engine address %q: ssh:// needs the docker command line's connection helper, which this resolver does not run: forward the engine's socket (ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock %s) and use unix:///tmp/docker.sock", clean(redact(host)), clean(u.Host))
	}
	return hosts{}, fmt.Errorf("docker: engine address %q: unknown scheme %q (want unix://, tcp://, npipe://)", clean(redact(host)), clean(u.Scheme))
}

// redact hides a password in an engine address.
func redact(host string) string {
	u, err := url.Parse(host)
	if err != nil {
		// Unparsable: hide anything that may be user:password@.
		if i := strings.LastIndexByte(host, '@'); i >= 0 {
			if j := strings.Index(host, "://"); j >= 0 && j < i {
				return host[:j+3] + "xxxxx" + host[i:]
			}
			return "xxxxx" + host[i:]
		}
		return host
	}
	if u.User == nil {
		return host
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
