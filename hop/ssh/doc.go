// Package ssh is a hop through an SSH bastion with OpenSSH client
// semantics: each dial opens a direct-tcpip channel on one shared SSH
// connection, made on first use and made again after it drops.
//
//	h, err := ssh.New("ssh://ops@bastion", &net.Dialer{}) // reads ~/.ssh/config, known_hosts, the agent
//	if err != nil { ... }
//	defer h.Close()
//	conn, err := h.DialContext(ctx, "tcp", "b-1.kafka.internal:9092")
//
// For the Host alias it is given, it honours ssh_config's HostName, User,
// Port, IdentityFile, IdentitiesOnly, IdentityAgent, ProxyJump,
// ProxyCommand, UserKnownHostsFile, GlobalKnownHostsFile,
// StrictHostKeyChecking (yes, ask, accept-new, no), HostKeyAlias,
// ConnectTimeout, ServerAliveInterval, ServerAliveCountMax and Ciphers.
// Host keys are always verified against known_hosts (hashed entries and
// @revoked included); an unknown, changed or revoked key fails the dial
// with a *HostKeyError that says how to check and add the key.
//
// ProxyCommand runs as OpenSSH runs it: "exec COMMAND" through $SHELL (else
// /bin/sh), with %h, %p, %r, %n and %% expanded, speaking SSH over its
// standard input and output. It ends when the connection or the hop
// closes; a command that exits early fails the dial with its exit status
// and what it wrote to stderr. "ProxyCommand none" disables it, and when
// ssh_config gives both ProxyJump and ProxyCommand, the first one given
// wins. Both apply to the first hop of a chain only.
//
// Connections it returns support read and write deadlines and CloseWrite,
// which x/crypto/ssh's channels do not (sarama fails every request on a
// conn without deadlines); package
// github.com/kafkadial/kafkadial/hop/streamconn gives the same to any
// tunnelled stream. When the SSH connection under a conn fails, reads report why
// instead of a clean end of stream. Keepalives (ServerAliveInterval, 15s by
// default) end a connection to a bastion that stops answering.
//
// A dialer builds ssh:// hops with a Builder, which reads ssh_config once
// and shares one connection per user@host:port and path among all rules.
// Who builds a hop closes it: a Builder you make and give to
// dialer.WithScheme is yours to Close once its dialers are done (they never
// close it); the Builder a dialer makes for itself, when given none, closes
// with the dialer.
package ssh
