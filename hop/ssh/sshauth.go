package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kafkadial/kafkadial/internal/netx"
)

// HostKeyError is the cause of a failed dial when an SSH hop's host key is
// not trusted: unknown (not in any known_hosts file), changed (known_hosts
// holds another key for the host: possibly a man-in-the-middle) or revoked.
type HostKeyError struct {
	Host        string                // the name looked up, as known_hosts writes it: "host" or "[host]:port"
	KeyType     string                // the type of the key the server offered, e.g. "ssh-ed25519"
	Fingerprint string                // its SHA256 fingerprint, as ssh-keygen -l prints it
	Files       []string              // the known_hosts files consulted
	Known       []knownhosts.KnownKey // the keys on file for Host, when it changed
	Revoked     bool                  // the key is marked @revoked
}

func (e *HostKeyError) Error() string {
	files := strings.Join(e.Files, ", ")
	if files == "" {
		files = "(no known_hosts file)"
	}
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key for %s is REVOKED: %s %s is marked @revoked in %s", e.Host, e.KeyType, e.Fingerprint, files)
	case len(e.Known) > 0:
		var on []string
		for _, k := range e.Known {
			on = append(on, fmt.Sprintf("%s:%d has %s %s", k.Filename, k.Line, k.Key.Type(), gossh.FingerprintSHA256(k.Key)))
		}
		return fmt.Sprintf("host key for %s CHANGED: the server offered %s %s but %s; this may be a man-in-the-middle attack: if the key was rotated, remove the old line",
			e.Host, e.KeyType, e.Fingerprint, strings.Join(on, ", "))
	}
	return fmt.Sprintf("host key for %s is unknown: %s %s is not in %s; check the fingerprint with the bastion's owner, then add it (ssh-keyscan %s >> %s) or set StrictHostKeyChecking accept-new",
		e.Host, e.KeyType, e.Fingerprint, files, keyscanArgs(e.Host), firstOr(e.Files, "~/.ssh/known_hosts"))
}

func keyscanArgs(host string) string {
	if strings.HasPrefix(host, "[") {
		if h, p, err := net.SplitHostPort(host); err == nil {
			return "-p " + p + " " + h
		}
	}
	return host
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// handshake connects to the endpoint through the forward dialer and runs the
// SSH handshake, all within ctx.
func (h *Hop) handshake(ctx context.Context, p *sshConnect) (*sshConn, error) {
	ep := h.ep
	auth, notes, closeAuth, err := h.authMethods()
	if err != nil {
		return nil, err
	}
	defer closeAuth()
	hostKey, algos, err := h.hostKeyCallback()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	var raw net.Conn
	var pc *cmdConn
	if ep.proxyCommand != "" {
		p.setStage("starting ProxyCommand")
		pc, err = startProxyCommand(ctx, ep.proxyCommand, ep.shell)
		if err != nil {
			if pc != nil {
				pc.Close()
			}
			return nil, fmt.Errorf("%s: %w", ep, err)
		}
		raw = pc
	} else {
		p.setStage("connecting to " + ep.addr())
		raw, err = h.forward.DialContext(ctx, "tcp", ep.addr())
		if err != nil {
			return nil, fmt.Errorf("%s: connecting to %s: %w", ep, ep.addr(), netx.DialCause(err))
		}
	}
	p.setStage("in the SSH handshake with " + ep.addr())
	tc := &trackedConn{Conn: raw}
	done := netx.WatchCtx(ctx, raw)
	cfg := &gossh.ClientConfig{
		User:              ep.user,
		Auth:              auth,
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
		Config:            gossh.Config{Ciphers: ep.ciphers},
	}
	c, chans, reqs, err := gossh.NewClientConn(tc, ep.knownHostsName(), cfg)
	ctxErr := done()
	if err != nil && ctxErr == nil {
		// The conn's deadline is ctx's: a read that timed out at it may
		// return before ctx notices its end.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			ctxErr = context.DeadlineExceeded
		}
	}
	if err == nil && ctxErr != nil {
		// The handshake finished as ctx ended: the interrupt may have
		// left a deadline in the past. Give up, as the dial has.
		c.Close()
		err = errors.New("handshake finished too late")
	}
	if err != nil {
		var cmdFailure error
		if pc != nil {
			cmdFailure = pc.failure() // before Close ends the command
		}
		raw.Close()
		if strings.Contains(err.Error(), "unable to authenticate") && len(notes) > 0 {
			err = fmt.Errorf("%w (%s)", err, strings.Join(notes, "; "))
		}
		if ctxErr != nil {
			err = fmt.Errorf("%w during the SSH handshake (%v)", ctxErr, err)
		}
		if cmdFailure != nil {
			err = fmt.Errorf("%w (%v)", err, cmdFailure)
		}
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	return &sshConn{
		name:   ep.String(),
		client: gossh.NewClient(c, chans, reqs),
		raw:    tc,
		local:  raw.LocalAddr(),
		dead:   make(chan struct{}),
	}, nil
}

// authMethods gathers what OpenSSH would offer: the agent's keys (those
// matching IdentityFile first; only those under IdentitiesOnly), then the
// identity files the agent does not hold, then the URL's password. notes
// explain keys that could not be offered.
func (h *Hop) authMethods() (methods []gossh.AuthMethod, notes []string, closeFn func(), err error) {
	ep := h.ep
	closeFn = func() {}
	type identity struct {
		path      string
		signer    gossh.Signer    // nil when encrypted
		pub       gossh.PublicKey // nil when unknown
		encrypted bool
	}
	var ids []identity
	for _, p := range ep.identityFiles {
		b, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				if ep.explicitIDs {
					notes = append(notes, "IdentityFile "+p+" does not exist")
				}
				continue
			}
			return nil, nil, closeFn, fmt.Errorf("%s: identity %w", ep, err)
		}
		signer, err := gossh.ParsePrivateKey(b)
		var pme *gossh.PassphraseMissingError
		switch {
		case errors.As(err, &pme):
			id := identity{path: p, pub: pme.PublicKey, encrypted: true}
			if id.pub == nil {
				if pb, err := os.ReadFile(p + ".pub"); err == nil {
					id.pub, _, _, _, _ = gossh.ParseAuthorizedKey(pb)
				}
			}
			ids = append(ids, id)
		case err != nil:
			return nil, nil, closeFn, fmt.Errorf("%s: identity file %s: %w", ep, p, err)
		default:
			ids = append(ids, identity{path: p, signer: signer, pub: signer.PublicKey()})
		}
	}

	var agentSigners []gossh.Signer
	if ep.agent != "" {
		conn, err := net.Dial("unix", ep.agent)
		if err != nil {
			notes = append(notes, fmt.Sprintf("ssh-agent at %s unreachable: %v", ep.agent, err))
		} else {
			closeFn = func() { conn.Close() }
			agentSigners, err = agent.NewClient(conn).Signers()
			if err != nil {
				notes = append(notes, fmt.Sprintf("ssh-agent at %s: %v", ep.agent, err))
			}
		}
	}

	var signers []gossh.Signer
	var shown []string
	offered := map[string]bool{}
	add := func(s gossh.Signer, from string) {
		k := string(s.PublicKey().Marshal())
		if !offered[k] {
			offered[k] = true
			signers = append(signers, s)
			shown = append(shown, from+" "+gossh.FingerprintSHA256(s.PublicKey()))
		}
	}
	inAgent := func(pub gossh.PublicKey) gossh.Signer {
		if pub == nil {
			return nil
		}
		for _, s := range agentSigners {
			if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
				return s
			}
		}
		return nil
	}
	for _, id := range ids {
		if s := inAgent(id.pub); s != nil {
			add(s, "agent key for "+id.path)
		}
	}
	if !ep.identitiesOnly {
		for _, s := range agentSigners {
			add(s, "agent key")
		}
	}
	for _, id := range ids {
		switch {
		case id.signer != nil:
			add(id.signer, id.path)
		case inAgent(id.pub) == nil:
			why := "no ssh-agent is running (SSH_AUTH_SOCK is unset)"
			if ep.agent != "" {
				why = "the ssh-agent does not hold it"
			}
			notes = append(notes, fmt.Sprintf("identity %s is encrypted (passphrase protected) and %s: load it with ssh-add %s", id.path, why, id.path))
		}
	}

	if len(signers) > 0 {
		methods = append(methods, gossh.PublicKeys(signers...))
		notes = append([]string{"offered " + strings.Join(shown, ", ")}, notes...)
	}
	if ep.hasPassword {
		pw := ep.password
		methods = append(methods, gossh.Password(pw),
			gossh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	if len(methods) == 0 {
		closeFn()
		why := notes
		if len(why) == 0 {
			agentWhy := "no ssh-agent (SSH_AUTH_SOCK is unset)"
			if ep.agent != "" {
				agentWhy = "the ssh-agent at " + ep.agent + " holds no key"
			}
			why = []string{agentWhy + " and no identity file exists (" + strings.Join(ep.identityFiles, ", ") + ")"}
		}
		return nil, nil, func() {}, fmt.Errorf("%s: no SSH identity to offer: %s", ep, strings.Join(why, "; "))
	}
	return methods, notes, closeFn, nil
}

// hostKeyCallback verifies host keys against known_hosts as OpenSSH does,
// and returns the host key algorithms to prefer: those of the keys on file
// for the host, so that a server with several keys offers the one we know.
func (h *Hop) hostKeyCallback() (gossh.HostKeyCallback, []string, error) {
	ep := h.ep
	var files, consulted []string
	for _, f := range append(slices.Clone(ep.knownHosts), ep.globalKnown...) {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	consulted = append(consulted, ep.knownHosts...)
	for _, f := range ep.globalKnown {
		if slices.Contains(files, f) {
			consulted = append(consulted, f)
		}
	}
	var db gossh.HostKeyCallback
	if len(files) > 0 {
		var err error
		if db, err = knownhosts.New(files...); err != nil {
			return nil, nil, fmt.Errorf("reading known_hosts: %w", err)
		}
	}
	name := ep.knownHostsName()
	algos := preferredHostKeyAlgos(db, name)
	cb := func(hostname string, _ net.Addr, key gossh.PublicKey) error {
		var known []knownhosts.KnownKey
		if db != nil {
			err := db(hostname, netx.Addr(hostname), key)
			if err == nil {
				return nil
			}
			var ke *knownhosts.KeyError
			var re *knownhosts.RevokedError
			switch {
			case errors.As(err, &re):
				return &HostKeyError{Host: knownhosts.Normalize(hostname), KeyType: key.Type(),
					Fingerprint: gossh.FingerprintSHA256(key), Files: consulted, Revoked: true}
			case errors.As(err, &ke):
				known = ke.Want
			default:
				return err
			}
		}
		hke := &HostKeyError{Host: knownhosts.Normalize(hostname), KeyType: key.Type(),
			Fingerprint: gossh.FingerprintSHA256(key), Files: consulted, Known: known}
		if len(known) > 0 {
			if ep.strict == "no" {
				h.log.LogAttrs(context.Background(), slog.LevelWarn, "kafkadial: accepting a changed host key (StrictHostKeyChecking no)",
					slog.String("hop", ep.String()), slog.String("error", hke.Error()))
				return nil
			}
			return hke
		}
		if ep.strict == "yes" {
			return hke
		}
		if len(ep.knownHosts) == 0 {
			return fmt.Errorf("%w (StrictHostKeyChecking %s, but UserKnownHostsFile is none)", hke, ep.strict)
		}
		if err := appendKnownHost(ep.knownHosts[0], hostname, key, ep.hashKnownHosts); err != nil {
			return fmt.Errorf("adding the host key of %s to %s: %w", hke.Host, ep.knownHosts[0], err)
		}
		h.log.LogAttrs(context.Background(), slog.LevelInfo, "kafkadial: added a new host key (StrictHostKeyChecking "+ep.strict+")",
			slog.String("host", hke.Host), slog.String("fingerprint", hke.Fingerprint), slog.String("file", ep.knownHosts[0]))
		return nil
	}
	return cb, algos, nil
}

// appendKnownHost adds a known_hosts line, as OpenSSH does for accept-new.
func appendKnownHost(file, hostname string, key gossh.PublicKey, hash bool) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	host := knownhosts.Normalize(hostname)
	if hash {
		host = knownhosts.HashHostname(host)
	}
	line := knownhosts.Line([]string{host}, key) + "\n"
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := io.WriteString(f, line); err != nil {
		return err
	}
	return f.Close()
}

// probeKey matches no known_hosts line: checking it lists the keys on file.
type probeKey struct{}

func (probeKey) Type() string                          { return "kafkadial-probe" }
func (probeKey) Marshal() []byte                       { return []byte("kafkadial-probe") }
func (probeKey) Verify([]byte, *gossh.Signature) error { return errors.New("probe key") }

func preferredHostKeyAlgos(db gossh.HostKeyCallback, name string) []string {
	if db == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := db(name, netx.Addr(name), probeKey{}); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case gossh.KeyAlgoRSA:
			algos = append(algos, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	algos = append(algos, gossh.SupportedAlgorithms().HostKeys...)
	var out []string
	seen := map[string]bool{}
	for _, a := range algos {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
