package wechattest

import (
	"strings"
	"unicode/utf8"
)

// The template APIs (the account's templates, template message send) and user info.

// valueLimits are the longest values of the keyword types of new templates, in characters,
// by the key's name without its number.
var valueLimits = map[string]int{
	"thing": 20, "character_string": 32, "number": 32, "letter": 32, "symbol": 5,
	"phone_number": 17, "car_number": 8, "name": 10, "phrase": 5,
}

func (s *Server) listTemplates(call) answer {
	list := []answer{}
	for _, t := range s.Templates() {
		list = append(list, answer{"template_id": t.ID, "title": t.Title, "primary_industry": "零售", "deputy_industry": "零售",
			"content": t.Content, "example": ""})
	}
	return answer{"template_list": list}
}

func (s *Server) sendTemplate(c call) answer {
	var req struct {
		ToUser      string `json:"touser"`
		TemplateID  string `json:"template_id"`
		URL         string `json:"url"`
		ClientMsgID string `json:"client_msg_id"`
		Data        map[string]struct {
			Value string `json:"value"`
			Color string `json:"color"`
		} `json:"data"`
	}
	if refused, ok := c.decode(&req); !ok {
		return refused
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.followers[req.ToUser]
	switch {
	case f == nil:
		return refusal(40003, "invalid openid")
	case !f.Subscribed:
		return refusal(43004, "require subscribe")
	case s.templates[req.TemplateID] == nil:
		return refusal(40037, "invalid template_id")
	case req.URL != "" && !strings.HasPrefix(req.URL, "http://") && !strings.HasPrefix(req.URL, "https://"):
		return refusal(40039, "invalid url size")
	}
	data := map[string]string{}
	for key, v := range req.Data {
		if most := valueLimits[strings.TrimRight(key, "0123456789")]; most > 0 && utf8.RuneCountInString(v.Value) > most {
			return errorf(47003, "argument invalid! data.%s.value invalid", key)
		}
		data[key] = v.Value
	}
	once := req.ToUser + "\x00" + req.ClientMsgID
	if prev, seen := s.clientIDs[once]; req.ClientMsgID != "" && seen && s.now().Sub(prev.at) < ClientMsgIDTTL {
		return answer{"errcode": 0, "errmsg": "ok", "msgid": prev.msgID}
	}
	s.seq++
	s.sends = append(s.sends, Delivery{MsgID: s.seq, To: req.ToUser, TemplateID: req.TemplateID, URL: req.URL, Data: data, ClientMsgID: req.ClientMsgID})
	if req.ClientMsgID != "" {
		s.clientIDs[once] = sent{msgID: s.seq, at: s.now()}
	}
	return answer{"errcode": 0, "errmsg": "ok", "msgid": s.seq}
}

// userInfo is GET /cgi-bin/user/info: a follower's subscription and, for an account bound to
// an Open Platform account, unionid.
func (s *Server) userInfo(c call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.followers[c.q.Get("openid")]
	if f == nil {
		return refusal(40003, "invalid openid")
	}
	out := answer{"subscribe": 0, "openid": f.OpenID}
	if f.Subscribed {
		tags := append([]int64{}, f.Tags...)
		out = answer{"subscribe": 1, "openid": f.OpenID, "language": "zh_CN", "subscribe_time": f.Since.Unix(),
			"remark": "", "groupid": 0, "tagid_list": tags, "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 0, "qr_scene_str": ""}
	}
	if f.UnionID != "" {
		out["unionid"] = f.UnionID
	}
	return out
}
