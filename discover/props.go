package discover

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxPropsSize bounds a properties file read from a bind mount: a Kafka
// server.properties is a few kilobytes.
const maxPropsSize = 1 << 20

// prop is one entry of a Java properties file.
type prop struct {
	value string
	line  int
}

// readProps reads a Java properties file (java.util.Properties.load: "key=value",
// "key: value" or "key value", # and ! comments, a trailing backslash
// continues a line, \t \n \uXXXX escapes).
func readProps(path string) (map[string]prop, error) {
	// Stat first: opening a FIFO for reading would wait for a writer.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPropsSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPropsSize {
		return nil, fmt.Errorf("larger than %d bytes, which no server.properties is", maxPropsSize)
	}
	return parseProps(b)
}

func parseProps(b []byte) (map[string]prop, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("not UTF-8 text")
	}
	out := map[string]prop{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxPropsSize+1)
	n := 0
	for sc.Scan() {
		n++
		start := n
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		// A line ending in an odd number of backslashes continues.
		for continues(line) && sc.Scan() {
			n++
			line = line[:len(line)-1] + strings.TrimLeft(sc.Text(), " \t\f")
		}
		if continues(line) {
			line = line[:len(line)-1]
		}
		key, value := splitProp(line)
		k, err := unescapeProp(key)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		v, err := unescapeProp(value)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		out[k] = prop{value: v, line: start}
	}
	return out, sc.Err()
}

func continues(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProp splits a logical line at the first unescaped '=', ':' or white
// space, and drops the separator with the white space around it.
func splitProp(line string) (key, value string) {
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
	}
	if i >= len(line) {
		return line, ""
	}
	key, rest := line[:i], strings.TrimLeft(line[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return key, rest
}

func unescapeProp(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i == len(s)-1 {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+4 >= len(s) {
				return "", errors.New(`malformed \uXXXX escape`)
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", errors.New(`malformed \uXXXX escape`)
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
