package dialer

import (
	"cmp"
	"slices"

	"github.com/kafkadial/kafkadial/rules"
)

// FindingKind says what kind of problem a Finding reports (the rule
// language's rules.FindingKind).
type FindingKind = rules.FindingKind

// The kinds of Finding.
const (
	FindingSyntax   = rules.FindingSyntax   // the text does not parse; New refuses it
	FindingHop      = rules.FindingHop      // a via hop New cannot build; New refuses it
	FindingShadowed = rules.FindingShadowed // an earlier rule takes every address this one matches
	FindingSource   = rules.FindingSource   // a rule file could not be read
)

// A Finding is one problem Check found in rules (the rule language's
// rules.Finding).
type Finding = rules.Finding

// Check reports every problem in the rules that the options give (WithRules,
// WithNamedRules, WithRulesFile, WithEnv, with hops from WithVia and
// WithScheme), in the order the rules are written: syntax errors and hops
// that New would refuse (New stops at the first; Check goes on), and rules
// that can never match because an earlier rule, possibly from an earlier
// source, matches every address they match (rules.Shadowed). No findings
// means New accepts the options and every rule can take a dial.
//
// Check makes no connection: hops are built as New builds them, through a
// forward dialer that refuses to dial, and closed before Check returns. The
// error is for options that are themselves wrong (WithVia with a bad name),
// as New would return it.
func Check(opts ...Option) ([]Finding, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	var (
		findings []Finding
		rs       []*rules.Rule
	)
	for _, s := range c.sources {
		text, err := s.load()
		if err != nil {
			findings = append(findings, Finding{Kind: FindingSource, Source: s.name, Err: err})
			continue
		}
		parsed, errs := rules.Parse(s.name, text)
		for _, e := range errs {
			findings = append(findings, Finding{Kind: FindingSyntax, Source: e.Source, Line: e.Line, Col: e.Col, Err: e.Err})
		}
		rs = append(rs, parsed...)
	}
	chains := buildChains(c, rs, refuseDialer{}, func(r *rules.Rule, h rules.Hop, err error) bool {
		findings = append(findings, Finding{Kind: FindingHop, Source: r.File(), Line: r.Line(), Col: h.Col, Err: err})
		return true
	})
	chains.Close()
	findings = append(findings, rules.Shadowed(rs)...)
	order := map[string]int{}
	for i, s := range c.sources {
		if _, ok := order[s.name]; !ok {
			order[s.name] = i
		}
	}
	slices.SortStableFunc(findings, func(x, y Finding) int {
		return cmp.Or(cmp.Compare(order[x.Source], order[y.Source]), cmp.Compare(x.Line, y.Line), cmp.Compare(x.Col, y.Col))
	})
	return findings, nil
}
