// Command vpcctl builds AWS-style VPCs on one Open vSwitch bridge.
package main

func main() {}
