"""The API's endpoints, one module per resource; each exports `endpoints(services)`."""
