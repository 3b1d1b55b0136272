"""The provincial one-stop software (phần mềm một cửa điện tử): SOAP client, mapping, simulator."""
