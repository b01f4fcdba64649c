package discover

import (
	"strconv"

	"github.com/kafkadial/kafkadial/rules"
)

// ruleHost writes host for a rule's match or target so that the rule
// language takes it literally: as it is when it is a plain name or an IP
// address, in double quotes when it holds a character the language gives a
// meaning ({ } * ~ = ...), and an error when no rule can name it.
func ruleHost(host string) (string, error) { return rules.QuoteHost(host) }

// ruleAddr writes host:port for a rule, the host as ruleHost does.
func ruleAddr(host string, port int) (string, error) {
	h, err := ruleHost(host)
	if err != nil {
		return "", err
	}
	return h + ":" + strconv.Itoa(port), nil
}
