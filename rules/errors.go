package rules

import (
	"fmt"

	"github.com/kafkadial/kafkadial/internal/safetext"
)

// Error reports a problem in rule text: where it is and what was expected.
// dialer.New returns it (as dialer.RuleError, the same type). Its message
// escapes control bytes and invalid UTF-8 that the input carried.
type Error struct {
	Source    string // the file name, "KAFKADIAL_RULES", or the name given with the text
	Line, Col int    // 1-based; Col counts bytes
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", safetext.Printable(e.Source), e.Line, e.Col, safetext.Printable(e.Err.Error()))
}

func (e *Error) Unwrap() error { return e.Err }
