module register

go 1.19

require ndsr v0.0.0

replace ndsr => ../../../go/ndsr
