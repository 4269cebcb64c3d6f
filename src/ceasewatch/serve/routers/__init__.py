"""One router per resource; ``serve.app.create_app`` mounts them all."""
