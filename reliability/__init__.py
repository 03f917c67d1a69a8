"""The fault suite (`make reliability`): kills and stalls the parts of a real `python -m stack`
while tickets are in flight, then checks that nothing was lost, nothing moved twice and every
deadline fired. Not part of `make test`: it runs for minutes and owns the machine meanwhile."""
