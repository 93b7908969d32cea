module ndsr

go 1.19
