package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kafkadial/kafkadial/internal/netx"
	"github.com/kafkadial/kafkadial/internal/safetext"
)

// expandProxyCommand expands the tokens ssh_config(5) allows in
// ProxyCommand: %% %h %n %p %r.
func expandProxyCommand(v string, tokens map[byte]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(v) {
			return "", errors.New("% at the end")
		}
		i++
		switch t := v[i]; t {
		case '%':
			b.WriteByte('%')
		case 'h', 'n', 'p', 'r':
			b.WriteString(tokens[t])
		default:
			return "", fmt.Errorf("token %q is not supported in ProxyCommand (use %%%%, %%h, %%n, %%p or %%r)", "%"+string(rune(t)))
		}
	}
	return b.String(), nil
}

// stderrMax bounds what a proxy command's error output adds to an error.
const stderrMax = 4 << 10

// startProxyCommand runs an SSH endpoint's ProxyCommand as OpenSSH does,
// `exec COMMAND` through the user's shell, and returns a conn over its
// standard input and output. Its standard error is kept (the last
// stderrMax bytes) for the error of a connection that fails. Closing the
// conn ends the command.
func startProxyCommand(ctx context.Context, command, shell string) (*cmdConn, error) {
	if shell == "" {
		shell = "/bin/sh"
	}
	// Pipes of our own (not exec's) are *os.File with deadlines, which the
	// SSH handshake and the context watch rely on.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	c := &cmdConn{out: outR, in: inW, exited: make(chan struct{})}
	cmd := exec.Command(shell, "-c", "exec "+command)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, &c.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so that Close ends the command's children too
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{outR, outW, inR, inW} {
			f.Close()
		}
		return nil, fmt.Errorf("starting ProxyCommand: %w", err)
	}
	inR.Close()
	outW.Close()
	c.cmd = cmd
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, ctx.Err()
}

// cmdConn is a net.Conn over a proxy command's standard input and output.
type cmdConn struct {
	cmd     *exec.Cmd
	out     *os.File // the command's stdout, read
	in      *os.File // the command's stdin, written
	stderr  tailBuffer
	exited  chan struct{}
	waitErr error
	killed  atomic.Bool // Close ended it: its exit says nothing
	once    sync.Once
}

var (
	_ net.Conn                        = (*cmdConn)(nil)
	_ interface{ CloseWrite() error } = (*cmdConn)(nil)
)

func (c *cmdConn) Read(p []byte) (int, error)  { return c.out.Read(p) }
func (c *cmdConn) Write(p []byte) (int, error) { return c.in.Write(p) }

// CloseWrite closes the command's standard input.
func (c *cmdConn) CloseWrite() error { return c.in.Close() }

// Close ends the command (its process group) and waits for it.
func (c *cmdConn) Close() error {
	c.once.Do(func() {
		c.in.Close()
		c.out.Close()
		select {
		case <-c.exited:
		default:
			c.killed.Store(true)
			syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-c.exited:
			case <-time.After(2 * time.Second):
				syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
				<-c.exited
			}
		}
	})
	return nil
}

// failure says why the command ended, with what it wrote to stderr, when
// it has ended.
func (c *cmdConn) failure() error {
	select {
	case <-c.exited:
	case <-time.After(100 * time.Millisecond):
		return nil // still running: the failure is elsewhere
	}
	stderr := strings.TrimSpace(c.stderr.String())
	// Our Close signals a command still running; one that exited on its
	// own (or died of another signal) says why.
	ws, _ := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	ours := c.killed.Load() && ws.Signaled() && (ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGKILL)
	msg := "ProxyCommand exited"
	switch {
	case ours && stderr == "":
		return nil // it ran until the connection was closed
	case ours:
		msg = "ProxyCommand said"
	case c.waitErr != nil:
		msg += " (" + c.waitErr.Error() + ")"
	}
	if stderr != "" {
		msg += ": " + safetext.Printable(stderr)
	}
	return errors.New(msg)
}

func (c *cmdConn) LocalAddr() net.Addr  { return netx.Addr("proxycommand") }
func (c *cmdConn) RemoteAddr() net.Addr { return netx.Addr("proxycommand") }

func (c *cmdConn) SetDeadline(t time.Time) error {
	return errors.Join(c.out.SetReadDeadline(t), c.in.SetWriteDeadline(t))
}
func (c *cmdConn) SetReadDeadline(t time.Time) error  { return c.out.SetReadDeadline(t) }
func (c *cmdConn) SetWriteDeadline(t time.Time) error { return c.in.SetWriteDeadline(t) }

// tailBuffer keeps the last stderrMax bytes written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if extra := t.b.Len() - stderrMax; extra > 0 {
		t.b.Next(extra)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
