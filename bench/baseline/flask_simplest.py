"""The lecture's Flask original at its simplest: the main page as the lecture first
wrote it. One joined query of the 20 newest messages with their writers, one
template, no hooks, no cookies, no CSRF, no login lookup. What a page costs Flask
when it does nothing else; our main page for a reader is measured against it.

    gunicorn -w 1 -b 127.0.0.1:8000 bench.baseline.flask_simplest:app
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import select

from bench.baseline import sync_url
from guestbook.config import Settings
from guestbook.models import Message, User

settings = Settings.from_env()  # the same GUESTBOOK_* variables the other apps read
app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
app.config["SQLALCHEMY_DATABASE_URI"] = sync_url(settings.database_url)
db = SQLAlchemy(app)
NEWEST = (
    select(Message.body, Message.created_at, User.username)
    .join(Message.writer)
    .order_by(Message.created_at.desc(), Message.id.desc())
    .limit(settings.page_size)
)


@app.get("/")
def index():
    return render_template("simplest_index.html", messages=db.session.execute(NEWEST).all())


@app.get("/hello")
def hello():
    return "Hello, World!"
