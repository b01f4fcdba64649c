package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"

	"github.com/kafkadial/kafkadial/internal/netx"
	"github.com/kafkadial/kafkadial/internal/safetext"
)

// sshSettings is the ssh_config of one Dialer: the files read, first one
// wins per keyword, as OpenSSH reads ~/.ssh/config before the system file.
type sshSettings struct {
	files   []*ssh_config.Config
	names   []string
	home    string
	local   string // the local user name
	getenv  func(string) string
	timeout time.Duration // the dialer's, the default ConnectTimeout
}

func newSettings(o options) (*sshSettings, error) {
	getenv := o.getenv
	s := &sshSettings{getenv: getenv, timeout: o.timeout}
	s.home = getenv("HOME")
	if s.home == "" {
		if u, err := user.Current(); err == nil {
			s.home = u.HomeDir
		}
	}
	if u, err := user.Current(); err == nil {
		s.local = u.Username
	} else {
		s.local = getenv("USER")
	}
	var paths []string
	switch {
	case o.configSet && o.configPath != "":
		paths = []string{o.configPath}
	case !o.configSet:
		if s.home != "" {
			paths = append(paths, filepath.Join(s.home, ".ssh", "config"))
		}
		paths = append(paths, "/etc/ssh/ssh_config")
	}
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && !(o.configSet && i == 0) {
				continue // the default files are optional
			}
			return nil, fmt.Errorf("reading ssh config: %w", err)
		}
		cfg, err := ssh_config.DecodeBytes(b)
		if err != nil {
			return nil, fmt.Errorf("ssh config %s: %w", safetext.Printable(p), printableError{err})
		}
		s.files = append(s.files, cfg)
		s.names = append(s.names, p)
	}
	return s, nil
}

// printableError shows an error from a parser of text from outside with
// its control bytes escaped, and keeps it for errors.Is and errors.As.
type printableError struct{ err error }

func (e printableError) Error() string { return safetext.Printable(e.err.Error()) }
func (e printableError) Unwrap() error { return e.err }

// get returns the first value of key for alias, or def.
func (s *sshSettings) get(alias, key, def string) (string, error) {
	for i, f := range s.files {
		v, err := f.Get(alias, key)
		if err != nil {
			return "", fmt.Errorf("ssh config %s: %w", safetext.Printable(s.names[i]), printableError{err})
		}
		if v != "" {
			return v, nil
		}
	}
	return def, nil
}

// firstOf returns which of keys (lower case) the configuration gives
// first for alias, in file order, or "" when it gives none. Within an
// Include it cannot see the order and prefers the earlier key.
func (s *sshSettings) firstOf(alias string, keys ...string) string {
	for _, f := range s.files {
		for _, h := range f.Hosts {
			if !h.Matches(alias) {
				continue
			}
			for _, n := range h.Nodes {
				switch t := n.(type) {
				case *ssh_config.KV:
					for _, k := range keys {
						if strings.EqualFold(t.Key, k) {
							return strings.ToLower(k)
						}
					}
				case *ssh_config.Include:
					for _, k := range keys {
						if t.Get(alias, k) != "" {
							return strings.ToLower(k)
						}
					}
				}
			}
		}
	}
	return ""
}

// getAll returns every value of key for alias, in order.
func (s *sshSettings) getAll(alias, key string) ([]string, error) {
	var all []string
	for i, f := range s.files {
		v, err := f.GetAll(alias, key)
		if err != nil {
			return nil, fmt.Errorf("ssh config %s: %w", safetext.Printable(s.names[i]), printableError{err})
		}
		all = append(all, v...)
	}
	return all, nil
}

// sshEndpoint is one SSH server, as ssh_config describes it.
type sshEndpoint struct {
	alias          string // as written in the rule or ProxyJump
	host, port     string // HostName and Port
	user           string
	password       string // only from the hop URL
	hasPassword    bool
	identityFiles  []string // IdentityFile, expanded; defaults when none is set
	explicitIDs    bool     // identityFiles came from IdentityFile
	identitiesOnly bool
	agent          string // the agent socket, "" = none
	knownHosts     []string
	globalKnown    []string
	strict         string // yes, accept-new or no
	hashKnownHosts bool
	hostKeyAlias   string
	connectTimeout time.Duration
	aliveInterval  time.Duration
	aliveCount     int
	ciphers        []string
	jumps          []*sshEndpoint // ProxyJump, first hop first
	proxyCommand   string         // ProxyCommand, tokens expanded; "" = none
	shell          string         // what runs it: $SHELL, else /bin/sh
}

// addr is where the endpoint listens.
func (e *sshEndpoint) addr() string { return net.JoinHostPort(e.host, e.port) }

// knownHostsName is the name looked up in known_hosts, as
// knownhosts.Normalize expects it.
func (e *sshEndpoint) knownHostsName() string {
	if e.hostKeyAlias != "" {
		return net.JoinHostPort(e.hostKeyAlias, e.port)
	}
	return e.addr()
}

// String names the endpoint in errors: user@alias, with the address when the
// alias differs.
func (e *sshEndpoint) String() string {
	s := "ssh://" + e.user + "@" + e.alias
	if e.alias != e.host || e.port != "22" {
		s += " (" + e.addr() + ")"
	}
	return safetext.Printable(s)
}

// Defaults used when ssh_config does not say (OpenSSH has no keepalive by
// default; a bastion that vanishes silently must not hang every broker
// connection, so kafkadial sends one every 15s).
const (
	defaultAliveInterval = 15 * time.Second
	defaultAliveCount    = 3
	maxProxyJumpDepth    = 8
)

// endpoint resolves an ssh:// hop URL through ssh_config.
func (s *sshSettings) endpoint(u *url.URL, proxyJump bool) (*sshEndpoint, error) {
	e, err := s.resolve(u.Hostname(), u.User.Username(), u.Port(), proxyJump, 0)
	if err != nil {
		return nil, err
	}
	if pw, ok := u.User.Password(); ok {
		e.password, e.hasPassword = pw, true
	}
	return e, nil
}

func (s *sshSettings) resolve(alias, userName, port string, proxyJump bool, depth int) (*sshEndpoint, error) {
	if depth > maxProxyJumpDepth {
		return nil, fmt.Errorf("ProxyJump for %q nests more than %d hops deep (a loop?)", alias, maxProxyJumpDepth)
	}
	e := &sshEndpoint{alias: alias}
	var err error
	getv := func(key, def string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = s.get(alias, key, def)
		return v
	}
	hostName := getv("HostName", "")
	cfgUser := getv("User", "")
	cfgPort := getv("Port", "")
	identitiesOnly := getv("IdentitiesOnly", "no")
	agent := getv("IdentityAgent", "")
	known := getv("UserKnownHostsFile", "~/.ssh/known_hosts ~/.ssh/known_hosts2")
	global := getv("GlobalKnownHostsFile", "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2")
	strict := getv("StrictHostKeyChecking", "ask")
	alias2 := getv("HostKeyAlias", "")
	connTimeout := getv("ConnectTimeout", "")
	aliveInterval := getv("ServerAliveInterval", "")
	aliveCount := getv("ServerAliveCountMax", "")
	ciphers := getv("Ciphers", "")
	hashKnown := getv("HashKnownHosts", "no")
	jump := getv("ProxyJump", "")
	proxyCmd := getv("ProxyCommand", "")
	if err != nil {
		return nil, err
	}
	ids, err := s.getAll(alias, "IdentityFile")
	if err != nil {
		return nil, err
	}
	bad := func(key, val, why string) error {
		return fmt.Errorf("ssh config for %q: %s %q: %s", alias, key, val, why)
	}

	// Tokens are expanded in the order OpenSSH gives them meaning: the
	// host name first, then the rest with %h, %p and %r known.
	e.host = alias
	if hostName != "" {
		h, err := s.expand(hostName, map[byte]string{'h': alias, 'n': alias})
		if err != nil {
			return nil, bad("HostName", hostName, err.Error())
		}
		e.host = h
	}
	e.port = "22"
	switch {
	case port != "":
		e.port = port
	case cfgPort != "":
		if n, err := netx.ParsePort(cfgPort); err != nil || n == 0 {
			return nil, bad("Port", cfgPort, "not a port number")
		}
		e.port = cfgPort
	}
	switch {
	case userName != "":
		e.user = userName
	case cfgUser != "":
		e.user = cfgUser
	default:
		e.user = s.local
	}
	if e.user == "" {
		return nil, fmt.Errorf("no user for ssh host %q: give one as ssh://user@host or with User in ssh_config", alias)
	}
	tokens := map[byte]string{'h': e.host, 'n': alias, 'p': e.port, 'r': e.user}
	path := func(key, val string) (string, error) {
		p, err := s.expand(val, tokens)
		if err != nil {
			return "", bad(key, val, err.Error())
		}
		return p, nil
	}
	if len(ids) > 0 {
		e.explicitIDs = true
		for _, id := range ids {
			if strings.EqualFold(id, "none") {
				continue
			}
			p, err := path("IdentityFile", id)
			if err != nil {
				return nil, err
			}
			e.identityFiles = append(e.identityFiles, p)
		}
	} else if s.home != "" {
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			e.identityFiles = append(e.identityFiles, filepath.Join(s.home, ".ssh", n))
		}
	}
	switch strings.ToLower(identitiesOnly) {
	case "yes":
		e.identitiesOnly = true
	case "no":
	default:
		return nil, bad("IdentitiesOnly", identitiesOnly, "want yes or no")
	}
	switch {
	case strings.EqualFold(agent, "none"):
	case agent == "" || agent == "SSH_AUTH_SOCK":
		e.agent = s.getenv("SSH_AUTH_SOCK")
	default:
		if strings.HasPrefix(agent, "$") && !strings.HasPrefix(agent, "${") {
			e.agent = s.getenv(agent[1:])
		} else if e.agent, err = path("IdentityAgent", agent); err != nil {
			return nil, err
		}
	}
	for _, f := range strings.Fields(known) {
		if strings.EqualFold(f, "none") {
			continue
		}
		p, err := path("UserKnownHostsFile", f)
		if err != nil {
			return nil, err
		}
		e.knownHosts = append(e.knownHosts, p)
	}
	for _, f := range strings.Fields(global) {
		if strings.EqualFold(f, "none") {
			continue
		}
		p, err := path("GlobalKnownHostsFile", f)
		if err != nil {
			return nil, err
		}
		e.globalKnown = append(e.globalKnown, p)
	}
	switch strings.ToLower(strict) {
	case "yes", "ask":
		// ask has no terminal here: it refuses as yes does.
		e.strict = "yes"
	case "accept-new":
		e.strict = "accept-new"
	case "no", "off":
		e.strict = "no"
	default:
		return nil, bad("StrictHostKeyChecking", strict, "want yes, ask, accept-new or no")
	}
	switch strings.ToLower(hashKnown) {
	case "yes":
		e.hashKnownHosts = true
	case "no":
	default:
		return nil, bad("HashKnownHosts", hashKnown, "want yes or no")
	}
	if alias2 != "" {
		e.hostKeyAlias = alias2
	}
	if connTimeout != "" {
		n, err := strconv.Atoi(connTimeout)
		if err != nil || n <= 0 {
			return nil, bad("ConnectTimeout", connTimeout, "want a number of seconds")
		}
		e.connectTimeout = time.Duration(n) * time.Second
	}
	e.aliveInterval, e.aliveCount = defaultAliveInterval, defaultAliveCount
	if aliveInterval != "" {
		n, err := strconv.Atoi(aliveInterval)
		if err != nil || n < 0 {
			return nil, bad("ServerAliveInterval", aliveInterval, "want a number of seconds")
		}
		e.aliveInterval = time.Duration(n) * time.Second // 0 turns keepalives off
	}
	if aliveCount != "" {
		n, err := strconv.Atoi(aliveCount)
		if err != nil || n <= 0 {
			return nil, bad("ServerAliveCountMax", aliveCount, "want a positive number")
		}
		e.aliveCount = n
	}
	if ciphers != "" {
		if strings.ContainsAny(ciphers[:1], "+-^") {
			return nil, bad("Ciphers", ciphers, "only a plain list is supported, not +, - or ^ edits")
		}
		e.ciphers = strings.Split(ciphers, ",")
	}

	// ProxyJump and ProxyCommand compete: whichever ssh_config gives
	// first wins, as in OpenSSH. Both apply only to the first hop of a
	// chain; a later hop is reached through the hops before it.
	if s.firstOf(alias, "ProxyJump", "ProxyCommand") == "proxycommand" {
		jump = ""
	} else {
		proxyCmd = ""
	}
	if proxyJump && proxyCmd != "" && !strings.EqualFold(proxyCmd, "none") {
		cmd, err := expandProxyCommand(proxyCmd, tokens)
		if err != nil {
			return nil, bad("ProxyCommand", proxyCmd, err.Error())
		}
		e.proxyCommand = cmd
		e.shell = s.getenv("SHELL")
	}
	if !proxyJump || strings.EqualFold(jump, "none") || jump == "" {
		return e, nil
	}
	for _, j := range strings.Split(jump, ",") {
		ju, jhost, jport, err := parseJump(strings.TrimSpace(j))
		if err != nil {
			return nil, bad("ProxyJump", jump, err.Error())
		}
		je, err := s.resolve(jhost, ju, jport, true, depth+1)
		if err != nil {
			return nil, err
		}
		// A jump host's own ProxyJump comes first, as ssh -J runs ssh for it.
		e.jumps = append(e.jumps, je.jumps...)
		je.jumps = nil
		e.jumps = append(e.jumps, je)
	}
	return e, nil
}

// parseJump parses one ProxyJump entry: [user@]host[:port] or
// ssh://[user@]host[:port].
func parseJump(s string) (userName, host, port string, err error) {
	if s == "" {
		return "", "", "", errors.New("empty host")
	}
	if strings.HasPrefix(s, "ssh://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", "", "", errors.New("bad ssh:// URL")
		}
		if u.Hostname() == "" {
			return "", "", "", errors.New("no host")
		}
		userName, host, port = u.User.Username(), u.Hostname(), u.Port()
		if port != "" {
			if _, err := netx.ParsePort(port); err != nil {
				return "", "", "", fmt.Errorf("bad port %q", port)
			}
		}
		return userName, host, port, nil
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		userName, s = s[:i], s[i+1:]
	}
	host = s
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return "", "", "", fmt.Errorf("bad host %q", host)
	}
	if port != "" {
		if n, err := netx.ParsePort(port); err != nil || n == 0 {
			return "", "", "", fmt.Errorf("bad port %q", port)
		}
	}
	return userName, host, port, nil
}

// expand replaces ~, ${VAR} and the % tokens OpenSSH defines for paths:
// %d home, %u local user, %h host, %n alias, %p port, %r remote user, %%.
func (s *sshSettings) expand(v string, tokens map[byte]string) (string, error) {
	if strings.HasPrefix(v, "~/") || v == "~" {
		if s.home == "" {
			return "", errors.New("~ used but HOME is unknown")
		}
		v = s.home + v[1:]
	}
	var b bytes.Buffer
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '%' && i+1 < len(v):
			i++
			t := v[i]
			switch t {
			case '%':
				b.WriteByte('%')
			case 'd':
				b.WriteString(s.home)
			case 'u':
				b.WriteString(s.local)
			default:
				val, ok := tokens[t]
				if !ok {
					return "", fmt.Errorf("token %q is not supported here", "%"+string(rune(t)))
				}
				b.WriteString(val)
			}
		case c == '%':
			return "", errors.New("% at the end")
		case c == '$' && i+1 < len(v) && v[i+1] == '{':
			end := strings.IndexByte(v[i:], '}')
			if end < 0 {
				return "", errors.New("unterminated ${")
			}
			name := v[i+2 : i+end]
			val := s.getenv(name)
			if val == "" {
				return "", fmt.Errorf("environment variable %q is not set", name)
			}
			b.WriteString(val)
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
