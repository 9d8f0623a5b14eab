"""The web console's static files (HTML, JavaScript, CSS), served by `console_http`."""
