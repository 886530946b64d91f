package policy

import (
	"slices"
	"strings"
	"testing"
)

func TestParseEnvFileGood(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []Assignment
	}{
		{"plain", "A=1\nB=two\n", []Assignment{{"A", "1", 1}, {"B", "two", 2}}},
		{"comments and blanks", "# c\n\n   # indented\n\t\nA=1\n", []Assignment{{"A", "1", 5}}},
		{"export", "export A=1\nexport\tB=2\n  export   C='3'\n", []Assignment{{"A", "1", 1}, {"B", "2", 2}, {"C", "3", 3}}},
		{"key named export", "export=1\nexportX=2\n", []Assignment{{"export", "1", 1}, {"exportX", "2", 2}}},
		{"empty value", "A=\nB=''\nC=\"\"\n", []Assignment{{"A", "", 1}, {"B", "", 2}, {"C", "", 3}}},
		{"trailing comment unquoted", "A=500 # the port\nB=x\t# tab\n", []Assignment{{"A", "500", 1}, {"B", "x", 2}}},
		{"hash inside unquoted", "A=a#b\nB=#x\n", []Assignment{{"A", "a#b", 1}, {"B", "#x", 2}}},
		{"blank-only trailing comment", "A= # nothing\n", []Assignment{{"A", "", 1}}},
		{"unquoted blanks kept inside, trimmed outside", "A=  x  y  \n", []Assignment{{"A", "x  y", 1}}},
		{"double quotes", `A="a b # not a comment"` + "\n", []Assignment{{"A", "a b # not a comment", 1}}},
		{"double quote escapes", `A="say \"hi\" \\ \n $X"`, []Assignment{{"A", `say "hi" \ \n $X`, 1}}},
		{"single quotes literal", `A='a \" \\ $X "b"'`, []Assignment{{"A", `a \" \\ $X "b"`, 1}}},
		{"comment after quotes", "A=\"x\" # c\nB='y'\t#c\nC=\"z\"   \n", []Assignment{{"A", "x", 1}, {"B", "y", 2}, {"C", "z", 3}}},
		{"CRLF and BOM", "\xEF\xBB\xBFA=1\r\n# c\r\nB=\"2\"\r\n", []Assignment{{"A", "1", 1}, {"B", "2", 3}}},
		{"repeated key kept", "A=1\nA=2\n", []Assignment{{"A", "1", 1}, {"A", "2", 2}}},
		{"nothing", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvFile("f.env", []byte(tt.data))
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseEnvFileBad(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string // prefix "f.env:N:" plus this substring
		line string
	}{
		{"no equals", "A=1\nJUSTTEXT\n", "expected KEY=VALUE", "2"},
		{"blank before equals", "\n\nA =1\n", "no blanks allowed around '='", "3"},
		{"bad key", "1A=x\n", "not a variable name", "1"},
		{"key with dash", "METRO-X=1\n", "not a variable name", "1"},
		{"unterminated double", "A=\"abc\n", "unterminated double quote", "1"},
		{"escaped closing quote", `A="abc\"` + "\n", "unterminated double quote", "1"},
		{"unterminated single", "# c\nA='abc\n", "unterminated single quote", "2"},
		{"text after quote", "A=\"a\"b\n", "after the closing quote", "1"},
		{"comment glued to quote", "A='a'#c\n", "after the closing quote", "1"},
		{"export without assignment", "export A\n", "expected KEY=VALUE", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvFile("f.env", []byte(tt.data))
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if !strings.HasPrefix(err.Error(), "f.env:"+tt.line+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want f.env:%s: ...%s...", err, tt.line, tt.want)
			}
		})
	}
}

func FuzzParseEnvFile(f *testing.F) {
	for _, s := range []string{
		"A=1\n",
		"export METRO_X=\"a \\\" b\" # c\r\n",
		"B='x y' #z\n# comment\n\n",
		"\xEF\xBB\xBFC=a#b # c",
		"D=\"unterminated",
		"E ='x'",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		as, err := ParseEnvFile("fuzz.env", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.env:") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		last := 0
		for _, a := range as {
			if !validKey(a.Key) {
				t.Fatalf("invalid key %q", a.Key)
			}
			if a.Line <= last || a.Line > lines {
				t.Fatalf("line %d out of order or range (last %d, %d lines)", a.Line, last, lines)
			}
			last = a.Line
			if strings.ContainsAny(a.Value, "\n") {
				t.Fatalf("multi-line value %q", a.Value)
			}
		}
	})
}
