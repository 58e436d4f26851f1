"""What our app is measured against: the lecture's Flask original (`flask_app`) and a
bare Quart hello route (`hello`), the ceiling of the server itself."""
