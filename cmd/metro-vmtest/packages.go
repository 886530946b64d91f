package main

// vmPackages are the packages whose tests need the VM test bed (kernel ESP,
// network namespaces). Add a package here when its tests call
// e2e.RequireVM or otherwise need METRO_VM=1.
var vmPackages = []string{
	"./xfrm",
	"./e2e",
}
