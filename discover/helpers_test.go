package discover

import (
	"io/fs"
	"strings"

	"github.com/kafkadial/kafkadial/internal/composetest"
)

// svc and svcBody write compose files with one Kafka service (package
// internal/composetest, shared with the other module's tests).
var svc, svcBody = composetest.Service, composetest.ServiceBody

// memFiles is a host file system held in memory, keyed by path.
type memFiles map[string]string

func (m memFiles) readProps(path string) (map[string]prop, error) {
	s, ok := m[path]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return parseProps([]byte(s))
}

func (m memFiles) isDir(path string) bool {
	for k := range m {
		if strings.HasPrefix(k, path+"/") {
			return true
		}
	}
	return false
}
