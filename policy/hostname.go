package policy

import (
	"os"
	"strings"
)

// DefaultHostnameFiles are read, in order, for the default of
// METRO_PARENT_HOSTNAME. /etc/parent_hostname lets a container or VM name
// the machine it runs on.
var DefaultHostnameFiles = []string{"/etc/parent_hostname", "/etc/hostname"}

// defaultHostname returns the first host name found in files, or else the
// kernel's host name, and the file it came from ("" for the kernel).
// A missing, unreadable or empty file is skipped. As in hostname(5), lines
// starting with '#' are comments; the first other non-blank line, trimmed,
// is the name.
func defaultHostname(files []string) (name, from string) {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' {
				continue
			}
			return line, f
		}
	}
	h, err := os.Hostname()
	if err != nil {
		return "", ""
	}
	return h, ""
}
