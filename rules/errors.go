package rules

import "fmt"

// Error reports a problem in rule text: where it is and what was expected.
// dialer.New returns it (as dialer.RuleError, the same type).
type Error struct {
	Source    string // the file name, "KAFKADIAL_RULES", or the name given with the text
	Line, Col int    // 1-based; Col counts bytes
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %v", e.Source, e.Line, e.Col, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
