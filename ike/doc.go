// Package ike runs IKEv2 (RFC 7296): the IKE_SA_INIT and IKE_AUTH exchanges,
// INFORMATIONAL exchanges, retransmission, and the state of each IKE SA and
// its CHILD_SA. It decides what to negotiate and asks an xfrm.Kernel to
// install the result. Wire encoding lives in ike/wire, cryptography in
// ike/ikecrypto.
package ike
