package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// command runs name with args in dir, with env added to the process's
// environment (later entries win). Its output is returned and, when
// verbose, copied to w as it comes. A command still running when ctx ends
// is killed with its children.
func command(ctx context.Context, w io.Writer, verbose bool, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	if verbose {
		cmd.Stdout = io.MultiWriter(&out, w)
	} else {
		cmd.Stdout = &out
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		err = fmt.Errorf("stopped: %w", context.Cause(ctx))
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s %s (in %s): %w%s", name, strings.Join(args, " "), dir, err, tail(out.String(), 40))
	}
	return out.String(), nil
}

// tail returns the last n lines of s, indented, for an error message.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return "\n\t" + strings.Join(lines, "\n\t")
}

// goEnv returns `go env NAME` as the caller's environment has it.
func goEnv(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// step prints a heading and times what follows.
type step struct {
	w     io.Writer
	name  string
	start time.Time
}

func begin(w io.Writer, format string, args ...any) *step {
	s := &step{w: w, name: fmt.Sprintf(format, args...), start: time.Now()}
	fmt.Fprintf(w, "== %s\n", s.name)
	return s
}

func (s *step) end(err error) error {
	d := time.Since(s.start).Round(100 * time.Millisecond)
	if err != nil {
		fmt.Fprintf(s.w, "-- FAIL %s (%s)\n", s.name, d)
		return fmt.Errorf("%s: %w", s.name, err)
	}
	fmt.Fprintf(s.w, "-- ok %s (%s)\n", s.name, d)
	return nil
}

var errUsage = errors.New("usage")
