package policy

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEveryVariable keeps the README's configuration reference
// in step with the variable table.
func TestREADMEListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, v := range Variables() {
		if !strings.Contains(readme, "| `"+v.Name+"` |") {
			t.Errorf("README.md has no configuration table row for %s", v.Name)
		}
	}
}
