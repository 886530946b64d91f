#!/bin/sh
# Exits 0 when this kernel can hold an ESP transport state with AES-GCM.
# Tries in a throwaway network namespace, so the host's tables are untouched.
ns=metro-espcheck-$$
ip netns add $ns || exit 1
ip -n $ns xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode transport \
	aead 'rfc4106(gcm(aes))' 0x0000000000000000000000000000000000000000 128 >/dev/null 2>&1
rc=$?
ip netns del $ns
exit $rc
