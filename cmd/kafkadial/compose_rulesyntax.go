package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ruleHost writes host as the host of a rule's match or target so that the
// rule grammar reads it literally: as it is when it is a plain name or an
// IP address, in double quotes when it holds a character the grammar gives
// a meaning ({ } * ~ = and anything else outside letters, digits, '-', '_'
// and '.'), and not at all when no rule can hold it: a '"', white space,
// ';', '#', a control byte or invalid UTF-8.
func ruleHost(host string) (string, error) {
	if host == "" {
		return "", fmt.Errorf("an empty host")
	}
	if !utf8.ValidString(host) {
		return "", fmt.Errorf("%q is not UTF-8", host)
	}
	for _, r := range host {
		switch {
		case r == '"', r == ';', r == '#':
			return "", fmt.Errorf("%q holds %q, which no rule can hold", host, r)
		case unicode.IsSpace(r):
			return "", fmt.Errorf("%q holds white space, which no rule can hold", host)
		case unicode.IsControl(r):
			return "", fmt.Errorf("%q holds a control character, which no rule can hold", host)
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is6() {
			return "[" + a.String() + "]", nil
		}
		return a.String(), nil
	}
	if plainHost(host) {
		return host, nil
	}
	return `"` + host + `"`, nil
}

// plainHost: the grammar reads host as an exact name, without quotes.
func plainHost(host string) bool {
	if host == "" || host[0] == '.' || strings.Contains(host, "..") {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ruleAddr writes host:port for a rule, the host as ruleHost does.
func ruleAddr(host string, port int) (string, error) {
	h, err := ruleHost(host)
	if err != nil {
		return "", err
	}
	return h + ":" + strconv.Itoa(port), nil
}
