package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// runStatus implements `metroctl status`.
func runStatus(a *app, cmd *command, args []string) int {
	fl := newFlagSet(cmd.name)
	asJSON := fl.Bool("json", false, "print the status as indented JSON")
	socket := a.socketFlag(fl)
	if code, ok := a.parseFlags(cmd, fl, args); !ok {
		return code
	}
	if fl.NArg() > 0 {
		return a.usageError(fmt.Sprintf("status: unexpected argument %q", fl.Arg(0)),
			func(w io.Writer) { a.commandUsage(w, cmd, fl) })
	}
	if *socket == "" {
		return a.usageError("--socket: empty path", func(w io.Writer) { a.commandUsage(w, cmd, fl) })
	}

	c, code := a.dial(*socket)
	if c == nil {
		return code
	}
	defer c.Close()
	ctx, cancel := requestContext()
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return a.fail(err)
	}

	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return a.fail(err)
		}
		return exitOK
	}
	p := &printer{w: a.stdout, now: a.now(), loc: a.loc, colour: a.colour}
	p.status(st)
	return exitOK
}
