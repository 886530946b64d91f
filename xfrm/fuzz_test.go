package xfrm

import "testing"

// FuzzParse feeds arbitrary bytes to every kernel-message parser: they
// must return errors, never panic or read out of bounds.
func FuzzParse(f *testing.F) {
	src, dst := mustAddr("192.0.2.1"), mustAddr("192.0.2.2")
	f.Add(rawAcquire(2, src, dst, ReqidBase))
	f.Add(rawExpire(10, mustAddr("2001:db8::1"), mustAddr("2001:db8::2"), 0x1000, ReqidBase, true))
	sa := cbcSA(src, dst, 0x1000)
	sa.ESN, sa.ReplayWindow, sa.Encap = true, 64, &Encap{SrcPort: 4500, DstPort: 4500}
	f.Add(encodeNewSA(&sa))
	f.Add(encodeSocketBypass(10, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseNotification(xfrmMsgAcquire, b)
		parseNotification(xfrmMsgExpire, b)
		if st, err := parseState(b); err == nil && st.SPI != 0 && !st.Dst.IsValid() {
			t.Errorf("state without a destination accepted")
		}
		if kp, err := parsePolicy(b); err == nil {
			ownedPolicy(&kp)
		}
		netlinkMessages(b, func(typ, _ uint16, p []byte) error {
			_, _, err := parseNotification(typ, p)
			return err
		})
	})
}
