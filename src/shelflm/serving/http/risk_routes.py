"""Risk control over HTTP: a user's risk and quarantine state, the quarantined users and the
release of a false alarm. All behind the write (admin) key: a shopper's risk is not theirs
to read."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, Field

from shelflm.serving.engine import Engine
from shelflm.serving.http.errors import ANY, KEYED, UserId, documented, json_response
from shelflm.serving.http.responses import answers_with


class RiskReason(BaseModel):
    feature: str
    value: float
    share: float = Field(description="share of the training shoppers less extreme on it")
    direction: str = Field(description="'higher' or 'lower' than them")
    text: str


class RiskState(BaseModel):
    user_id: str
    quarantined: bool = Field(description="their events count for nobody else")
    released: bool = Field(description="released by an admin: never quarantined again")
    quarantined_score: float | None = Field(description="the risk that quarantined them")


class RiskAnswer(RiskState):
    score: float | None = Field(description="risk in [0, 1], scored now; null: see status")
    flagged: bool
    events: int = Field(description="events scored (the user's most recent)")
    status: str = Field(description="'ok', 'insufficient_data' (too few events to judge) or "
                        "'no_risk_model' (the served artifact has none)")
    reasons: list[RiskReason]


class Quarantined(BaseModel):
    users: list[dict]
    risk: dict | None = Field(description="the risk model's threshold and counters")


def risk_routes(app: FastAPI, engine: Engine, write) -> None:
    """Attach the risk routes."""
    desk = engine.risk

    @app.get("/users/{user_id}/risk", dependencies=[write], tags=["risk"],
             responses={**answers_with(RiskAnswer, "the user's risk, with its reasons"),
                        **documented(*ANY, *KEYED, 404)})
    def user_risk(user_id: UserId) -> Response:
        """A user's risk scored now from their stored events, with the reasons behind it,
        and whether their events are quarantined."""
        return json_response(desk.risk(user_id))

    @app.get("/admin/quarantine", dependencies=[write], tags=["risk"],
             responses={**answers_with(Quarantined, "every quarantined user"),
                        **documented(*ANY, *KEYED)})
    def quarantined() -> Response:
        """The quarantined users with the scores and reasons that flagged them."""
        return json_response({"users": desk.quarantined(), "risk": desk.stats()})

    @app.post("/admin/users/{user_id}/release", dependencies=[write], tags=["risk"],
              responses={**answers_with(RiskState, "their events count again"),
                         **documented(*ANY, *KEYED, 404)})
    def release(user_id: UserId) -> Response:
        """Release a quarantined user (a false alarm): their kept events count again, in
        every worker, and they are not quarantined automatically any more."""
        return json_response(desk.release(user_id))
