package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The engine is found as the docker command line finds it.
func TestFindEngine(t *testing.T) {
	dir := t.TempDir()
	ctxDir := func(name string) string {
		sum := sha256.Sum256([]byte(name))
		return hex.EncodeToString(sum[:])
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "cfg", "config.json"), `{"auths":{},"currentContext":"remote"}`)
	write(filepath.Join(dir, "cfg", "contexts", "meta", ctxDir("remote"), "meta.json"),
		`{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://docker-host:2376","SkipTLSVerify":false}}}`)
	write(filepath.Join(dir, "cfg", "contexts", "meta", ctxDir("colima"), "meta.json"),
		`{"Name":"colima","Endpoints":{"docker":{"Host":"unix:///home/u/.colima/default/docker.sock"}}}`)
	write(filepath.Join(dir, "cfg", "contexts", "tls", ctxDir("remote"), "docker", "ca.pem"), "x")
	write(filepath.Join(dir, "broken", "config.json"), `{"currentContext":`)

	cfg := filepath.Join(dir, "cfg")
	for _, tc := range []struct {
		name, with string
		env        map[string]string
		host, src  string
		tls        bool
		err        string
	}{
		{"option wins", "unix:///x.sock", map[string]string{"DOCKER_HOST": "tcp://a:1"}, "unix:///x.sock", "WithHost", false, ""},
		{"DOCKER_HOST", "", map[string]string{"DOCKER_HOST": "tcp://a:1", "DOCKER_CONFIG": cfg}, "tcp://a:1", "DOCKER_HOST", false, ""},
		{"DOCKER_HOST with TLS", "", map[string]string{"DOCKER_HOST": "tcp://a:1", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"}, "tcp://a:1", "DOCKER_HOST", true, ""},
		{"current context", "", map[string]string{"DOCKER_CONFIG": cfg}, "tcp://docker-host:2376", `context "remote"`, true, ""},
		{"DOCKER_CONTEXT", "", map[string]string{"DOCKER_CONFIG": cfg, "DOCKER_CONTEXT": "colima"}, "unix:///home/u/.colima/default/docker.sock", `context "colima"`, false, ""},
		{"default context", "", map[string]string{"DOCKER_CONFIG": cfg, "DOCKER_CONTEXT": "default"}, "unix:///var/run/docker.sock", "default", false, ""},
		{"no config", "", map[string]string{"HOME": filepath.Join(dir, "nohome")}, "unix:///var/run/docker.sock", "default", false, ""},
		{"missing context", "", map[string]string{"DOCKER_CONFIG": cfg, "DOCKER_CONTEXT": "gone"}, "", "", false, `docker: context "gone" (from DOCKER_CONTEXT) does not exist`},
		{"broken config", "", map[string]string{"DOCKER_CONFIG": filepath.Join(dir, "broken")}, "", "", false, "reading the docker CLI's current context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := findEngine(tc.with, envOf(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || a.host != tc.host || a.source != tc.src || (a.tlsDir != "") != tc.tls {
				t.Fatalf("findEngine = %+v, %v; want host %s from %s, tls %v", a, err, tc.host, tc.src, tc.tls)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		host   string
		remote bool
		engine string
		err    string
	}{
		{"unix:///var/run/docker.sock", false, "", ""},
		{"npipe:////./pipe/docker_engine", false, "", ""},
		{"tcp://127.0.0.1:2375", false, "", ""},
		{"tcp://localhost:2375", false, "", ""},
		{"tcp://[::1]:2375", false, "", ""},
		{"tcp://docker-host:2375", true, "docker-host", ""},
		{"https://198.18.0.3:2376", true, "198.18.0.3", ""},
		{"ssh://ops@docker-host", false, "", "ssh:// needs the docker command line's connection helper"},
		{"ftp://x", false, "", `unknown scheme "ftp"`},
		{"tcp://", false, "", "has no host"},
		{"tcp://u:secret@h:1\x00", false, "", "xxxxx"},
	} {
		h, err := classify(tc.host)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) && !strings.Contains(err.Error(), "invalid") {
				t.Errorf("classify(%q) = %v, want %q", tc.host, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("classify(%q): the password shows: %v", tc.host, err)
			}
			continue
		}
		if err != nil || h.remote != tc.remote || h.engineHost != tc.engine {
			t.Errorf("classify(%q) = %+v, %v", tc.host, h, err)
		}
	}
}

// With no engine at the address, New fails within its context, naming the
// address.
func TestNewNoEngine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := New(ctx, WithHost("unix://"+sock))
	var ee *EngineError
	if !errors.As(err, &ee) || ee.Host != "unix://"+sock || !strings.Contains(err.Error(), "docker: no engine answers at unix://"+sock) {
		t.Fatalf("New = %v; want an *EngineError naming the socket", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("New took %s with nothing at the socket", time.Since(start))
	}
	t.Logf("%v", err)
	if _, err := New(ctx, WithHost("")); err == nil {
		t.Fatal(`WithHost("") accepted`)
	}
	if _, err := New(ctx, withGetenv(envOf(map[string]string{"DOCKER_HOST": "ssh://u@h"}))); err == nil || !strings.Contains(err.Error(), "ssh -nNT -L") {
		t.Fatalf("ssh host: %v", err)
	}
}
