package discover

import (
	"io"
	"sync"

	"github.com/sirupsen/logrus"
)

// composeLog collects what compose-go logs while a project loads. Its only
// channel is logrus's standard logger, so capturing it means borrowing that
// logger: logMu keeps two loads from borrowing it at once.
type composeLog struct {
	mu       sync.Mutex
	warnings []string
}

var logMu sync.Mutex

func (c *composeLog) Levels() []logrus.Level { return logrus.AllLevels }

func (c *composeLog) Fire(e *logrus.Entry) error {
	if e.Level > logrus.WarnLevel {
		return nil // info and debug: compose-go's chatter
	}
	c.mu.Lock()
	c.warnings = append(c.warnings, e.Message)
	c.mu.Unlock()
	return nil
}

// captureComposeLog routes the standard logger into a composeLog, silently,
// until release is called.
func captureComposeLog() (c *composeLog, release func()) {
	logMu.Lock()
	std := logrus.StandardLogger()
	c = &composeLog{}
	out := std.Out
	hooks := std.ReplaceHooks(logrus.LevelHooks{})
	std.AddHook(c)
	std.SetOutput(io.Discard)
	return c, func() {
		std.SetOutput(out)
		std.ReplaceHooks(hooks)
		logMu.Unlock()
	}
}
